"""Group commit: many callers' rows written in one transaction, each caller told when durable.

A caller's :meth:`GroupCommitter.submit` returns only after the transaction holding its item
has committed (or raises if it failed), so an answer that cites a record is never sent before
the record is durable.

Leader/follower: the first caller to find no commit under way becomes the leader and commits
everything queued so far, in its own thread; callers arriving meanwhile queue up and wait,
and when the leader is done one of them leads the next batch. Concurrent callers so share one
commit, with no writer thread to hand work to and back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

from sqlalchemy import Connection

from services.common.database import Database, call_deadline
from services.common.errors import DeadlineExceeded, Unavailable, YihaoError

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Slot:
    """One caller's item and what became of it."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None


class GroupCommitter(Generic[T]):
    """Commits submitted items in batches, led by whichever caller comes first."""

    def __init__(
        self,
        db: Database,
        write: Callable[[Connection, Sequence[T]], None],
        *,
        max_batch: int = 1024,
        name: str = "group-commit",
        gather: float = 0.0,
    ) -> None:
        self._db = db
        self._write = write
        self._max_batch = max_batch
        self.name = name
        self._gather = gather
        self._cond = threading.Condition()
        self._queue: list[tuple[T, _Slot]] = []
        self._leading = False
        self._coming = 0  # callers announced by coming() whose item is not queued yet
        self._announced = threading.local()

    @contextmanager
    def coming(self) -> Iterator[None]:
        """Around work in this thread that ends in :meth:`submit`: a leader about to commit
        waits (up to ``gather`` seconds) for the items of callers so announced to join.

        Under concurrent load most callers would otherwise commit alone: the commit itself
        holds the GIL most of the time, so the others cannot reach ``submit`` while it runs.
        """
        with self._cond:
            self._coming += 1
        self._announced.on = True
        try:
            yield
        finally:
            if self._announced.on:  # left without submitting
                self._announced.on = False
                with self._cond:
                    self._coming -= 1
                    self._cond.notify_all()

    def submit(self, item: T, timeout: float = 30.0) -> None:
        """Queue ``item`` and return once it is committed (raise if that failed)."""
        slot = _Slot()
        deadline = time.monotonic() + timeout
        with self._cond:
            if getattr(self._announced, "on", False):
                self._announced.on = False
                self._coming -= 1
            self._queue.append((item, slot))
            self._cond.notify_all()  # a gathering leader counts it
        while True:
            with self._cond:
                remaining = deadline - time.monotonic()
                ready = self._cond.wait_for(lambda: slot.done or not self._leading, remaining)
                if not ready:
                    raise DeadlineExceeded(
                        "the record could not be made durable in time", reason="COMMIT_TIMEOUT"
                    )
                if slot.done:
                    break
                self._leading = True
            self._lead_once()
        if slot.error is not None:
            raise slot.error

    def _lead_once(self) -> None:
        """Commit what is queued (up to a batch), tell its callers, hand over."""
        try:
            with self._cond:
                self._wait_for_coming()
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            if batch:
                error = self._commit([item for item, _ in batch])
                with self._cond:
                    for _, slot in batch:
                        slot.done, slot.error = True, error
        finally:
            with self._cond:
                self._leading = False
                self._cond.notify_all()

    def _wait_for_coming(self) -> None:
        """(Holding the condition.) Until every caller announced by :meth:`coming` has
        queued its item, or ``gather`` has passed."""
        if not self._gather:
            return
        until = time.monotonic() + self._gather
        while self._coming and len(self._queue) < self._max_batch:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _commit(self, items: list[T]) -> BaseException | None:
        # The leader commits for every caller in the batch: its own deadline must not cut
        # short what others are waiting for.
        token = call_deadline.set(None)
        try:
            with self._db.transaction() as conn:
                self._write(conn, items)
        except YihaoError as exc:
            return exc
        except Exception:  # every caller of the batch learns it failed; nothing is half-written
            log.exception("group commit %s failed", self.name)
            return Unavailable("could not store the record", reason="COMMIT_FAILED")
        finally:
            call_deadline.reset(token)
        return None

    def close(self) -> None:
        """Nothing to stop: callers commit their own batches (kept for a uniform interface)."""
