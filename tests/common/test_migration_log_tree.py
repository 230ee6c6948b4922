"""Migration 0009 gives an existing log its tree indexes and stored subtrees, losing nothing."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from services.common import audit_log, log_tree, merkle
from services.common.audit_log import Entry
from services.common.database import Database
from services.common.log_tables import audit_nodes
from services.common.migrate import upgrade

AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no schema at all (a store made before a migration starts from one)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server = request.getfixturevalue("postgres")
    return str(server.create_database(f"m{os.getpid()}_{tmp_path.name[-20:]}".lower()))


def entry(i: int) -> Entry:
    return Entry("test", f"T{i}", hashlib.sha256(str(i).encode()).hexdigest())


def test_an_old_log_gets_indexes_and_nodes_and_proofs(empty_url: str) -> None:
    db = Database(empty_url)
    upgrade(db, "0008")
    entries = [entry(i) for i in range(37)]
    with db.transaction() as conn:  # as 0008's code wrote them: no index, seq with gaps
        for i, e in enumerate(entries):
            conn.execute(
                text(
                    "INSERT INTO audit_leaves (seq, kind, ref, payload_sha256, leaf_hash, at) "
                    "VALUES (:seq, :k, :r, :p, :h, :at)"
                ),
                {
                    "seq": 10 + 3 * i,
                    "k": e.kind,
                    "r": e.ref,
                    "p": e.payload_sha256,
                    "h": merkle.leaf_hash(audit_log.leaf_data(e)).hex(),
                    "at": AT,
                },
            )
    upgrade(db)
    hashes = [merkle.leaf_hash(audit_log.leaf_data(e)) for e in entries]
    with db.read() as conn:
        assert [leaf.index for leaf in audit_log.leaves(conn)] == list(range(37))
        assert audit_log.leaf_hashes(conn) == hashes
        nodes = conn.execute(select(func.count()).select_from(audit_nodes)).scalar()
        assert nodes == sum(37 >> level for level in range(1, 6))
        assert log_tree.root_at(conn, 37) == merkle.root(hashes)
        for index in range(37):
            assert log_tree.inclusion_proof(conn, index, 37) == merkle.inclusion_proof(
                hashes, index
            )
    with db.transaction() as conn:  # the log grows on from where it was
        audit_log.append(conn, [entry(37)], AT)
    with db.read() as conn:
        more = [*hashes, merkle.leaf_hash(audit_log.leaf_data(entry(37)))]
        assert audit_log.grow_tree(conn).root_hash == merkle.root(more)
        assert audit_log.find_leaf(conn, "T37") is not None
    db.dispose()
