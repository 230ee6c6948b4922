"""The SQLite WAL stays bounded: the background checkpointer empties it once it outgrows its
limit, as soon as no reader holds on to it, and never while one does."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from services.common import database
from services.common.database import Database
from services.common.sqlite_wal import Checkpointer, FairLock


def _wal(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    with db.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)")
    yield db, path
    db.dispose()


def _write(db: Database, start: int, count: int) -> None:
    with db.transaction() as conn:
        conn.exec_driver_sql(
            "INSERT INTO t (n, pad) VALUES "
            + ",".join(f"({n}, zeroblob(4000))" for n in range(start, start + count))
        )


def test_a_wal_over_its_limit_is_emptied_once_no_reader_holds_it(store):
    db, path = store
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM t").fetchall()  # a snapshot that pins the WAL
    _write(db, 0, 200)
    assert _wal(path) > 400_000
    checkpointer = Checkpointer(str(path), interval=0.05, limit=100_000, wait_ms=10)
    try:
        time.sleep(0.5)
        assert _wal(path) > 400_000  # still read from: kept, and the writers were not stuck
        _write(db, 200, 10)
        assert checkpointer.frames > 0 and checkpointer.truncations == 0
        reader.execute("COMMIT")
        assert _wait_for(lambda: _wal(path) == 0)
        assert _wait_for(lambda: checkpointer.truncations == 1)
        _write(db, 210, 10)  # and the database goes on working after it
    finally:
        checkpointer.stop()
        reader.close()
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 220


def test_a_wal_under_its_limit_is_left_to_passive_checkpoints(store):
    db, path = store
    checkpointer = Checkpointer(str(path), interval=0.05, limit=1 << 30)
    try:
        _write(db, 0, 50)
        size = _wal(path)
        time.sleep(0.3)
        assert _wal(path) == size > 0  # copied back, not truncated
    finally:
        checkpointer.stop()


def test_back_to_back_writers_make_way_for_the_checkpoint(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(database, "SQLITE_WAL_LIMIT_BYTES", 300_000)
    monkeypatch.setattr(database, "SQLITE_TRUNCATE_WAIT_MS", 500)
    path = tmp_path / "busy.db"
    db = Database(f"sqlite:///{path}")
    with db.transaction() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)")
    stop = threading.Event()
    written = []

    def writer(base: int) -> None:  # an import: one long write transaction after another
        n = base
        while not stop.is_set():
            with db.transaction() as conn:
                for _ in range(20):
                    conn.exec_driver_sql(f"INSERT INTO t VALUES ({n}, zeroblob(4000))")
                    n += 1
                time.sleep(0.2)
            written.append(n)

    threads = [threading.Thread(target=writer, args=(0,))]
    caplog.set_level(logging.INFO, logger="services.common.database")
    try:
        for t in threads:
            t.start()
        emptied = _wait_for(lambda: "checkpointed and emptied" in caplog.text, timeout=6)
        then = len(written)
        kept_going = _wait_for(lambda: len(written) >= then + 5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    db.dispose()
    assert emptied  # the writer's next transaction waited for the checkpoint
    assert kept_going  # and writing went on after it


def test_writers_of_a_process_take_turns_in_the_order_they_came(store):
    db, _path = store
    stop = threading.Event()

    def hog() -> None:  # one write transaction after another, no pause between them
        n = 0
        while not stop.is_set():
            with db.transaction() as conn:
                conn.exec_driver_sql(f"INSERT INTO t VALUES ({n}, NULL)")
                time.sleep(0.1)
            n += 1

    thread = threading.Thread(target=hog)
    thread.start()
    try:
        time.sleep(0.05)
        started = time.monotonic()
        with db.transaction() as conn:  # gets the next turn, not a busy timeout
            conn.exec_driver_sql("INSERT INTO t VALUES (-1, NULL)")
        waited = time.monotonic() - started
    finally:
        stop.set()
        thread.join(10)
    assert waited < 1.0


def test_a_writer_out_of_time_leaves_the_queue_and_the_next_gets_the_lock():
    lock = FairLock()
    assert lock.acquire(1)
    assert not lock.acquire(0.05)  # timed out: no longer queued
    got = []
    waiter = threading.Thread(target=lambda: got.append(lock.acquire(5)))
    waiter.start()
    time.sleep(0.05)
    lock.release()  # handed to the waiter, not to the one that left
    waiter.join(5)
    assert got == [True]
    assert not lock.acquire(0.05)  # the waiter holds it
    lock.release()
    assert lock.acquire(0.05)


def _busy_writer(db: Database, seconds: float) -> int:
    """Small commits one after another for ``seconds``, as verifications' receipts are
    written under load; how many."""
    n, until = 0, time.monotonic() + seconds
    while time.monotonic() < until:
        with db.transaction() as conn:
            conn.exec_driver_sql(f"INSERT INTO t VALUES ({n}, zeroblob(3000))")
            conn.exec_driver_sql(f"UPDATE t SET pad = zeroblob(3000) WHERE n = {n // 2}")
        n += 1
        time.sleep(0.0005)
    return n


def test_under_unbroken_writes_the_wal_starts_over_instead_of_growing(store):
    db, path = store
    commits = _busy_writer(db, 2.0)
    # Each commit adds three 4 KB frames or so (the WAL grew to ~12.5 KB a commit when it
    # did not start over); starting over, it holds about what a checkpoint interval's
    # commits wrote (~1.3 KB a commit over the run), not everything written since the start.
    assert commits > 500
    assert _wal(path) < commits * 4096
    state = db.wal_state()  # what the metrics show: it started over, never truncated
    assert state is not None and state.truncations == 0 and 0 <= state.frames < commits
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == commits
