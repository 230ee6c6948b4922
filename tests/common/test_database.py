"""The process's Database as configured: SQLite connections get the configured page cache."""

from __future__ import annotations

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
