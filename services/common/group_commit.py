"""Group commit: many callers' rows written in one transaction, each caller told when durable.

A caller's :meth:`GroupCommitter.submit` returns only after the transaction holding its item
has committed (or raises if it failed), so an answer that cites a record is never sent before
the record is durable. Concurrent callers share one commit, which is where the cost of a
durable write goes on a busy server.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

from sqlalchemy import Connection

from services.common.database import Database
from services.common.errors import DeadlineExceeded, Unavailable, YihaoError

log = logging.getLogger(__name__)

T = TypeVar("T")


class GroupCommitter(Generic[T]):
    """One writer thread that commits queued items in batches."""

    def __init__(
        self,
        db: Database,
        write: Callable[[Connection, Sequence[T]], None],
        *,
        max_batch: int = 1024,
        name: str = "group-commit",
    ) -> None:
        self._db = db
        self._write = write
        self._max_batch = max_batch
        self._queue: queue.Queue[tuple[T, Future[None]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T, timeout: float = 30.0) -> None:
        """Queue ``item`` and wait until it is committed."""
        done: Future[None] = Future()
        self._queue.put((item, done))
        try:
            done.result(timeout)
        except TimeoutError:
            raise DeadlineExceeded(
                "the record could not be made durable in time", reason="COMMIT_TIMEOUT"
            ) from None

    def close(self) -> None:
        """Finish what is queued and stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = self._drain(batch)
            self._commit(batch)
            if stop:
                return

    def _drain(self, batch: list[tuple[T, Future[None]]]) -> bool:
        while len(batch) < self._max_batch:
            try:
                entry = self._queue.get_nowait()
            except queue.Empty:
                return False
            if entry is None:
                return True
            batch.append(entry)
        return False

    def _commit(self, batch: list[tuple[T, Future[None]]]) -> None:
        try:
            with self._db.transaction() as conn:
                self._write(conn, [item for item, _ in batch])
        except YihaoError as exc:
            self._fail(batch, exc)
        except Exception as exc:  # the writer must survive anything to serve the next batch
            log.exception("group commit failed")
            self._fail(batch, Unavailable("could not store the record", reason="COMMIT_FAILED"))
            del exc
        else:
            for _, done in batch:
                done.set_result(None)

    @staticmethod
    def _fail(batch: list[tuple[T, Future[None]]], exc: BaseException) -> None:
        for _, done in batch:
            done.set_exception(exc)
