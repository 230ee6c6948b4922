"""SQLite's WAL kept in check, and its one writer at a time shared fairly, in a process.

:class:`Checkpointer` copies the WAL back into the database file from a background thread
(and empties it when it grows past a limit); :class:`FairLock` queues a process's writers in
the order they came. Used by :class:`services.common.database.Database` on SQLite.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from pathlib import Path

from services.common.thread_names import name_this_thread

log = logging.getLogger("services.common.database")

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CHECKPOINT_SECONDS = 0.1
SQLITE_WAL_LIMIT_BYTES = 64 << 20  # a larger WAL is emptied by a TRUNCATE checkpoint
SQLITE_TRUNCATE_WAIT_MS = 2_000  # how long it may wait for the writer and readers of the moment


class Checkpointer:
    """Checkpoints a SQLite database's WAL from a background thread.

    With SQLite's automatic checkpoint, the commit that crosses the threshold copies the WAL
    back into the database file and syncs it: that commit, and every caller waiting on it in a
    group commit, stalls (measured: receipt commits' p99 ~26 ms, max ~140 ms, against ~6 ms and
    ~17 ms with this thread doing it). The engine's connections turn the automatic checkpoint
    off; this thread runs a PASSIVE checkpoint (it never blocks readers or writers) at an
    interval. Durability is the WAL's either way.

    A PASSIVE checkpoint copies frames back but cannot start the WAL over while some
    connection still reads from it; under unbroken load (two server processes importing in
    turn) it never could, and the WAL grew to 4 GB in five minutes. Once it is larger than
    ``limit`` bytes, a TRUNCATE checkpoint waits (at most ``wait_ms``) for the writer and the
    readers of the moment to finish and empties it. This process's new write transactions
    wait for it (:meth:`writer_turn`), or back-to-back imports would never leave it a gap.

    SQLite starts the WAL over (writes from its beginning again) only when a transaction
    begins writing with every frame already copied back and no reader still in the WAL. Under
    steady load a checkpoint never finished before the next commit had added frames (~10 ms a
    checkpoint against a commit every ~2 ms at 460 verifications/s), so the WAL grew by ~15
    pages a commit until it passed ``limit`` (every ~2.5 s), and its TRUNCATE held every
    caller ~33 ms (SQLite's busy handler sleeps 1, 2, 5, 10, 15 ms… while it waits for the
    readers): the p99 at half load. So, given this process's ``writers`` lock, after each
    checkpoint that copied back what it saw, a second PASSIVE checkpoint runs holding it,
    copying just the frames committed during the first (~2 ms): the next write then finds the
    WAL all copied back and starts it over, and the WAL stays at what ~0.1 s of commits write.
    Other processes' writers do not take that lock; with several processes writing, the WAL
    may still outgrow ``limit`` and be truncated.
    """

    def __init__(
        self,
        path: str,
        interval: float = SQLITE_CHECKPOINT_SECONDS,
        limit: int = SQLITE_WAL_LIMIT_BYTES,
        wait_ms: int = SQLITE_TRUNCATE_WAIT_MS,
        writers: FairLock | None = None,
    ) -> None:
        self._writers = writers
        self._settled = 0  # the WAL's frames after the last settling: nothing new, no need
        #: Frames in the WAL at the last checkpoint (a WAL that cannot start over grows).
        self.frames = 0
        #: TRUNCATE checkpoints this process ran (each held this process's writers).
        self.truncations = 0
        self._uri = f"{Path(path).resolve().as_uri()}?mode=rw"  # never creates the file
        self._wal = Path(f"{path}-wal")
        self._interval = interval
        self._limit = limit
        self._wait_ms = wait_ms
        self._gate = threading.Condition()
        self._truncating = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        name_this_thread()
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self._interval):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._uri, uri=True, isolation_level=None)
                    self._checkpoint(conn)
                except sqlite3.Error as exc:  # not created yet, or busy: next time
                    log.debug("WAL checkpoint skipped: %s", exc)
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.frames = max(frames, 0)  # -1: not in WAL mode
        if self._writers is not None and not busy and 0 < frames == copied != self._settled:
            self._settle(conn, self._writers)
        try:
            size = self._wal.stat().st_size
        except OSError:
            return
        if size <= self._limit:
            return
        with self._gate:
            self._truncating = True
        try:
            conn.execute(f"PRAGMA busy_timeout={self._wait_ms}")
            busy, _frames, _copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            self.truncations += 0 if busy else 1
            log.log(
                logging.DEBUG if busy else logging.INFO,
                "WAL of %d MB %s",
                size >> 20,
                "still in use: kept" if busy else "checkpointed and emptied",
            )
        finally:
            with self._gate:
                self._truncating = False
                self._gate.notify_all()

    def _settle(self, conn: sqlite3.Connection, writers: FairLock) -> None:
        """Copy back what was committed during the checkpoint just run, with this process's
        writers held off, so the next write starts the WAL over (see the class)."""
        if not writers.acquire(self._interval):
            return  # a long write transaction: next time
        try:
            _busy, self._settled, _copied = conn.execute(
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
        finally:
            writers.release()

    def writer_turn(self) -> None:
        """Before a write transaction: wait while a TRUNCATE checkpoint is under way."""
        if not self._truncating:
            return
        with self._gate:
            self._gate.wait_for(lambda: not self._truncating, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def stop(self) -> None:
        """Stop checkpointing (the last connection to close checkpoints what is left)."""
        self._stop.set()
        self._thread.join(timeout=10)


class FairLock:
    """A lock handed to waiters in the order they came (a plain lock is not fair: a thread
    that releases and at once acquires again usually wins, so back-to-back import transactions
    starved every other writer of the SQLite database until its busy timeout)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds; False if it could not."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn in self._waiting:  # not handed over: leave the queue
                self._waiting.remove(turn)
                return False
        return True  # handed over just as the wait ended

    def release(self) -> None:
        """Hand the lock to the longest waiter, or free it."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False
