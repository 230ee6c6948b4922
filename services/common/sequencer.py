"""The log's sequencer: appends queued entries to the tree in the background, many at a time.

Writers that queue their log entries (:func:`services.common.audit_log.queue`; verification
receipts) tell it; every :data:`SEQUENCE_SECONDS`, or as soon as :data:`SEQUENCE_BATCH` entries
are waiting, it appends whatever is queued in one transaction
(:func:`services.common.audit_log.sequence`), so a busy verifier's rounds share one append
instead of each making its own. A pass holds the write lock (and mostly the GIL) for ~0.3 ms
plus ~16 µs an entry: the batch bound keeps that short under load, where every call arriving
meanwhile waits for it. Nothing depends on its timing: signing a head, proving a
queued record and any direct append take the queue first themselves, and what a stopped
process left queued is appended by the next of those.
"""

from __future__ import annotations

import logging
import threading
import time

from services.common import audit_log
from services.common.database import Database
from services.common.metrics import NO_METRICS, Metrics
from services.common.thread_names import name_this_thread

log = logging.getLogger(__name__)

#: How long queued entries wait at most for the background append (while the process runs).
SEQUENCE_SECONDS = 0.1
#: Entries waiting that start a pass at once.
SEQUENCE_BATCH = 32


class Sequencer:
    """Appends the log's queue in a daemon thread, started at the first :meth:`queued`."""

    def __init__(
        self,
        db: Database,
        every: float = SEQUENCE_SECONDS,
        batch: int = SEQUENCE_BATCH,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._every = every
        self._batch = batch
        self._lock = threading.Lock()
        self._pending = 0  # entries queued since the last pass began (approximately)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def queued(self, count: int = 1) -> None:
        """``count`` entries were queued (committed): append them within
        :data:`SEQUENCE_SECONDS`, or now if :data:`SEQUENCE_BATCH` are waiting."""
        if self._thread is not None:  # a hand-off path: no lock once the thread runs
            self._pending += count
            if self._pending >= self._batch:
                self._wake.set()
            return
        with self._lock:
            self._pending += count
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="log-sequencer", daemon=True
                )
                self._thread.start()

    def run(self) -> int:
        """Append what is queued now; how many entries."""
        with self._db.transaction() as conn:
            return audit_log.sequence(conn)

    def close(self) -> None:
        """Stop the thread and append what is still queued."""
        self._stopped.set()
        self._wake.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
            self._flush()

    def _loop(self) -> None:
        name_this_thread()
        while not self._stopped.is_set():
            self._wake.wait(self._every)
            self._wake.clear()
            if not self._stopped.is_set():
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        self._pending = 0
        began = time.monotonic()
        try:
            appended = self.run()
        except Exception:  # appended by the next pass, head or proof; never lost (queued)
            self._pending += 1
            self._metrics.log_sequenced(0, time.monotonic() - began, ok=False)
            log.exception("could not append the log's queue")
        else:
            self._metrics.log_sequenced(appended, time.monotonic() - began, ok=True)
