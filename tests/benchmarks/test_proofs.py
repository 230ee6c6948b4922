"""The proofs benchmark builds exactly the stored tree the log's append path writes, and its
command runs end to end (small sizes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from benchmarks import proofs
from services.common import audit_log
from services.common.database import Database
from services.common.log_tables import audit_leaves, audit_nodes
from services.common.migrate import upgrade


def _tree(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with db.read() as conn:
        leaves = conn.execute(
            select(audit_leaves.c.idx, audit_leaves.c.ref, audit_leaves.c.leaf_hash).order_by(
                audit_leaves.c.idx
            )
        ).all()
        nodes = conn.execute(select(audit_nodes).order_by(audit_nodes.c.level, audit_nodes.c.idx))
        return [tuple(r) for r in leaves], [(r.level, r.idx, bytes(r.hash)) for r in nodes]


def test_the_fast_build_is_what_the_append_path_writes(tmp_path: Path) -> None:
    fast, slow = (Database(f"sqlite:///{tmp_path / name}.db") for name in ("fast", "slow"))
    for db in (fast, slow):
        upgrade(db)
    n = 2 * proofs.BATCH + 37  # crosses the build's batches
    proofs.build(fast, n)
    at = datetime(2026, 12, 4, tzinfo=UTC)
    for start in range(0, n, 7_000):
        with slow.transaction() as conn:
            chunk = range(start, min(n, start + 7_000))
            audit_log.append(conn, [proofs._entry(i) for i in chunk], at)
    assert _tree(fast) == _tree(slow)
    fast.dispose()
    slow.dispose()


def test_the_command_prints_figures_and_a_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert proofs.main(["--sizes", "500,3000", "--proofs", "20"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["hashes_read_max_3000"] <= 2 * 12 + 2
    assert {"inclusion_us_500", "consistency_us_3000", "full_scan_inclusion_us_500"} <= set(figures)
