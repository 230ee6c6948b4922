"""The process's Database as configured: SQLite connections get the configured page cache; the
process's SQLite writes go through one kept connection, dropped after an error."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.common.config import load_settings
from services.common.database import SQLITE_CACHE_MB, Database


def _cache_sizes(db: Database, connections: int) -> list[int]:
    held = [db.engine.connect() for _ in range(connections)]  # distinct pooled connections
    try:
        return [c.exec_driver_sql("PRAGMA cache_size").scalar_one() for c in held]
    finally:
        for c in held:
            c.close()


def test_every_sqlite_connection_gets_the_default_page_cache(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    try:
        assert _cache_sizes(db, 3) == [-SQLITE_CACHE_MB * 1024] * 3  # KiB when negative
    finally:
        db.dispose()


def test_the_page_cache_follows_the_settings(tmp_path):
    env = {"YIHAO_VAR_DIR": str(tmp_path), "YIHAO_SQLITE_CACHE_MB": "256"}
    db = Database.for_settings(load_settings(env))
    try:
        assert db.url == f"sqlite:///{tmp_path / 'yihao.db'}"
        assert _cache_sizes(db, 2) == [-256 * 1024] * 2
    finally:
        db.dispose()


def _driver(conn):
    return conn.connection.driver_connection


def test_sqlite_writes_share_one_kept_connection_and_see_other_writers(tmp_path):
    url = f"sqlite:///{tmp_path / 'y.db'}"
    db, other = Database(url), Database(url)  # other: a second process's
    try:
        with db.transaction() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
            first = _driver(conn)
        with other.transaction() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with db.transaction() as conn:
            assert _driver(conn) is first  # kept: its page cache with it
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 1  # sees the other
            conn.execute(text("INSERT INTO t VALUES (2)"))
        with db.read() as conn:
            assert _driver(conn) is not first  # reads use the pool
            assert conn.execute(text("SELECT sum(n) FROM t")).scalar() == 3
    finally:
        db.dispose()
        other.dispose()
    assert db._write_conn is None  # closed with the rest


def test_a_failed_write_drops_the_kept_connection_and_the_next_write_works(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    try:
        with db.transaction() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        with pytest.raises(RuntimeError), db.transaction() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("the unit of work fails")
        assert db._write_conn is None  # not kept: back to the pool, rolled back
        with db.transaction() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0  # rolled back
            conn.execute(text("INSERT INTO t VALUES (2)"))
        with db.read() as conn:
            assert conn.execute(text("SELECT n FROM t")).scalars().all() == [2]
    finally:
        db.dispose()


def test_the_kept_write_connection_is_replaced_after_the_engine_is_disposed(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'y.db'}")
    try:
        with db.transaction() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
            first = _driver(conn)
        db.engine.dispose()  # e.g. to give new connections other settings
        with db.transaction() as conn:
            assert _driver(conn) is not first
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with db.read() as conn:
            assert conn.execute(text("SELECT n FROM t")).scalars().all() == [1]
    finally:
        db.dispose()
