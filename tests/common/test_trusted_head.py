"""The kept head's rules on a real SQLite store: a log that extends the kept head passes; one
truncated, rewritten or grown again after a rollback fails closed; an unreadable file is never
"no head"; a head is kept only when it extends the one kept before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete

from services.common import audit_log
from services.common.audit_log import Entry
from services.common.database import Database
from services.common.errors import FailedPrecondition
from services.common.log_tables import audit_leaves, audit_nodes, tree_heads
from services.common.migrate import upgrade
from services.common.signing import SigningKey
from services.common.trusted_head import REASON, TrustedHeadGuard

AT = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
KEY = SigningKey.generate("log-test")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'log.db'}")
    upgrade(database)
    yield database
    database.dispose()


def append(db: Database, n: int, tag: str = "e") -> None:
    with db.transaction() as conn:
        entries = [Entry("test", f"{tag}{i}", f"{i:064x}") for i in range(n)]
        audit_log.append(conn, entries, AT)


def sign(db: Database) -> audit_log.TreeHead:
    with db.transaction() as conn:
        return audit_log.sign_head(conn, KEY, AT)


def truncate(db: Database, keep: int) -> None:
    """The newest entries deleted with the heads and subtrees that covered them."""
    with db.transaction() as conn:
        conn.execute(delete(audit_leaves).where(audit_leaves.c.idx >= keep))
        conn.execute(delete(audit_nodes))
        conn.execute(delete(tree_heads))
        leaves = audit_log.leaf_hashes(conn)
        from services.common import log_tree

        log_tree.extend(conn, 0, leaves)


def kept_guard(db: Database, path: Path) -> TrustedHeadGuard:
    guard = TrustedHeadGuard(db, path)
    append(db, 5)
    guard.advance(sign(db))
    return guard


def test_a_log_that_grew_by_appending_passes_and_advances(db: Database, tmp_path: Path) -> None:
    guard = kept_guard(db, tmp_path / "head.json")
    append(db, 3, "more")
    assert guard.check()
    head = sign(db)
    guard.advance(head)
    assert guard.file.read() == head
    assert TrustedHeadGuard(db, tmp_path / "head.json").check()  # a new process, same file


def test_a_truncated_log_with_its_heads_deleted_fails_closed(db: Database, tmp_path: Path) -> None:
    guard = kept_guard(db, tmp_path / "head.json")
    changes: list[bool] = []
    guard.on_change(changes.append)
    truncate(db, 3)
    assert not guard.check()
    assert guard.behind is not None and "holds 3 entries" in guard.behind
    with pytest.raises(FailedPrecondition) as refused:
        guard.require_current()
    assert refused.value.reason == REASON
    assert str(tmp_path / "head.json") in refused.value.message  # how to accept on purpose
    assert changes == [False]
    fresh = TrustedHeadGuard(db, tmp_path / "head.json")  # a restarted process: same finding
    assert not fresh.check()


def test_a_rolled_back_log_grown_past_the_kept_size_fails_closed(
    db: Database, tmp_path: Path
) -> None:
    guard = kept_guard(db, tmp_path / "head.json")
    truncate(db, 3)
    append(db, 4, "other")  # 7 entries now, but not the first 5 the kept head signed
    assert not guard.check()
    assert guard.behind is not None and "no longer hash to" in guard.behind
    guard.advance(sign(db))  # a head over the rewritten log is never kept
    kept = guard.file.read()
    assert kept is not None and kept.tree_size == 5


def test_the_process_remembers_its_head_when_the_file_is_gone(db: Database, tmp_path: Path) -> None:
    guard = kept_guard(db, tmp_path / "head.json")
    assert guard.check()
    (tmp_path / "head.json").unlink()
    truncate(db, 2)
    assert not guard.check()


def test_an_unreadable_file_is_not_no_head(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "head.json"
    kept_guard(db, path)
    path.write_text("not a head\n")
    guard = TrustedHeadGuard(db, path)
    assert not guard.check()
    assert guard.behind is not None and "not a saved tree head" in guard.behind


def test_recovers_when_the_newer_log_is_back(db: Database, tmp_path: Path) -> None:
    guard = kept_guard(db, tmp_path / "head.json")
    changes: list[bool] = []
    guard.on_change(changes.append)
    with db.transaction() as conn:
        conn.execute(delete(audit_leaves).where(audit_leaves.c.idx == 4))
    assert not guard.check()
    append(db, 0)
    with db.transaction() as conn:  # the deleted entry put back as it was
        conn.execute(
            audit_leaves.insert().values(
                idx=4,
                kind="test",
                ref="e4",
                payload_sha256=f"{4:064x}",
                leaf_hash=audit_log.merkle.leaf_hash(
                    audit_log.leaf_data(Entry("test", "e4", f"{4:064x}"))
                ).hex(),
                at=AT,
            )
        )
    assert guard.check()
    assert changes == [False, True]


def test_an_unwritable_file_does_not_stop_heads_being_signed(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the directory should be")
    guard = TrustedHeadGuard(db, blocked / "head.json")
    append(db, 3)
    head = sign(db)
    guard.advance(head)  # logged, not raised
    assert "cannot keep the signed head outside the database" in caplog.text
    truncate(db, 1)
    assert not guard.check()  # the process still remembers the head
