"""Several processes signing the log's head at once (every worker of a multi-process server
signs a last head when it stops): one stores the head of that size, the others find it and
answer it — no error, one row. On PostgreSQL the head-signing advisory lock orders them; on
SQLite the write transactions are serial already."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from services.common import audit_log
from services.common.audit_log import Entry
from services.common.database import Database
from services.common.log_tables import tree_heads
from services.common.migrate import upgrade
from services.common.signing import SigningKey

AT = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
KEY = SigningKey.generate("log-test")


@pytest.fixture
def two(database_url: str) -> Iterator[tuple[Database, Database]]:
    """Two engines on one database, as two server processes have."""
    first = Database(database_url)
    upgrade(first)
    second = Database(database_url)
    yield first, second
    first.dispose()
    second.dispose()


def test_two_processes_signing_the_same_tree_store_one_head(two) -> None:
    first, second = two
    with first.transaction() as conn:
        audit_log.append(conn, [Entry("test", f"e{i}", f"{i:064x}") for i in range(5)], AT)
    with first.read() as conn:
        grown = audit_log.grow_tree(conn)
    signed_first = threading.Event()
    heads: dict[str, audit_log.TreeHead] = {}

    def slow_first() -> None:  # stores its head, then holds its transaction open a while
        with first.transaction() as conn:
            heads["first"] = audit_log.store_head(conn, grown, KEY, AT)
            signed_first.set()
            time.sleep(0.5)

    thread = threading.Thread(target=slow_first)
    thread.start()
    assert signed_first.wait(10)
    with second.transaction() as conn:  # the same tree, while the first has not committed
        heads["second"] = audit_log.store_head(conn, grown, KEY, AT)
    thread.join(10)
    assert heads["first"] == heads["second"]
    assert heads["first"].tree_size == 5
    with first.read() as conn:
        assert conn.execute(select(func.count()).select_from(tree_heads)).scalar() == 1
