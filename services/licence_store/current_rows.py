"""Current licence rows kept in memory between reads, forgotten the moment one changes.

A batch verification reads each licence's current row (state, signed version, newest status
statement) every time, and in a busy hall the same licences are asked about again and again:
the read was about a third of a batch item's server CPU. :class:`CurrentRows` keeps the rows
it read and, before answering from them, asks the store which licences changed since it last
looked (on SQLite, ``persistence.changes``: triggers note every write to the three tables in
commit order), forgets those, and reads them, and anything it does not hold, afresh. So a
verification still sees every change committed before it starts, by any process, as when it
read every row. What it answers from memory goes through the same checks as a fresh read
(signature memo, validity at the instant asked); the reader keeps each row with its
signed-status comparison already made, which depends only on the row, the statement read
with it and the newest statement the process verified for that licence — a newer statement
is itself a change the log reports.

Beyond the change log, no row is kept longer than :data:`MAX_AGE` seconds: an edit that
deleted rows of the change log itself (it does not name any licence in the tamper-evident
log) could delay what a verifier sees by at most that. A gap in the change numbers (the
reader fell behind the :data:`~services.licence_store.persistence.changes.KEEP` newest
changes, or rows were deleted), or another change under the number last seen (the newest
deleted and its number given again), forgets everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds a row is answered from memory at most.
MAX_AGE = 1.0
#: Rows kept at most (the oldest read is forgotten first).
CAPACITY = 20_000

Changes = Callable[[int], list[tuple[int, str]]]


class CurrentRows(Generic[T]):
    """Rows by serial, valid as of the change numbered :attr:`seq`."""

    def __init__(
        self,
        capacity: int = CAPACITY,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[int, int], None] | None = None,
    ) -> None:
        self.capacity = capacity
        #: Told of each read: rows answered from memory, rows read from the database.
        self.report = report
        self.max_age = max_age
        self._clock = clock
        self._rows: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()
        #: The newest change number seen (0: none yet, or the log was found empty).
        self.seq = 0
        self._serial = ""  # the serial that change named
        self.hits = 0
        self.misses = 0

    def read(
        self,
        serials: Collection[str],
        changes: Changes,
        fetch: Callable[[list[str]], dict[str, T]],
    ) -> dict[str, T]:
        """The rows of ``serials`` that exist: from memory where nothing changed since they
        were read, else from ``fetch`` (called with what is missing, after ``changes``, the
        change log from :attr:`seq` on; see ``persistence.changes.changes_from``)."""
        with self._lock:
            if not self._catch_up(changes(self.seq)):
                read = fetch(list(serials))  # no change log to trust: read everything
                if self.report is not None:
                    self.report(0, len(read))
                return read
            now = self._clock()
            out: dict[str, T] = {}
            missing: list[str] = []
            rows = self._rows
            for serial in serials:
                kept = rows.get(serial)
                if kept is not None and now - kept[0] <= self.max_age:
                    out[serial] = kept[1]
                else:
                    missing.append(serial)
            remembered = len(out)
            self.hits += remembered
            if missing:
                self.misses += len(missing)
                found = fetch(missing)
                for serial, row in found.items():
                    rows.pop(serial, None)  # re-read: now the newest
                    rows[serial] = (now, row)
                    out[serial] = row
                while len(rows) > self.capacity:
                    del rows[next(iter(rows))]
            if self.report is not None:
                self.report(remembered, len(out) - remembered)
            return out

    def _catch_up(self, changes: list[tuple[int, str]]) -> bool:
        """Forget what changed; whether the change log can be trusted from here on."""
        if not changes:  # an empty log: never left so by the triggers
            self._rows.clear()
            self.seq, self._serial = 0, ""
            return False
        first, last = changes[0][0], changes[-1][0]
        if (
            self.seq == 0
            or changes[0] != (self.seq, self._serial)
            or last - first != len(changes) - 1
        ):
            # A start; a gap (rows deleted, or fallen behind what is kept); or another change
            # under the number last seen (the newest row deleted, its number given again).
            self._rows.clear()
        else:
            for _, serial in changes[1:]:
                self._rows.pop(serial, None)
        self.seq, self._serial = changes[-1]
        return True
