"""the log's leaves get their tree index, and every perfect subtree's hash is stored, so
proofs read O(log n) hashes instead of every leaf up to the head

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 14:40:00
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

from services.common.bulk_insert import insert_many
from services.common.log_tables import audit_nodes
from services.common.log_tree import nodes_of

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 20_000


def upgrade() -> None:
    with op.batch_alter_table("audit_leaves") as batch:
        batch.add_column(sa.Column("idx", sa.BigInteger(), nullable=True))
    # The tree was the leaves in seq order: index = rank by seq (window function and
    # UPDATE … FROM: PostgreSQL, and SQLite from 3.33).
    op.execute(
        "UPDATE audit_leaves SET idx = ranked.rank - 1 FROM "
        "(SELECT seq, row_number() OVER (ORDER BY seq) AS rank FROM audit_leaves) AS ranked "
        "WHERE audit_leaves.seq = ranked.seq"
    )
    with op.batch_alter_table("audit_leaves") as batch:
        batch.alter_column("idx", existing_type=sa.BigInteger(), nullable=False)
        batch.create_index("ix_audit_leaves_idx", ["idx"], unique=True)
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_nodes")),
    )
    _build_nodes(op.get_bind())


def _leaf_hashes(conn: sa.Connection) -> Iterator[bytes]:
    """Every leaf hash in tree order, read a batch at a time (keyset on idx)."""
    leaves = sa.table("audit_leaves", sa.column("idx"), sa.column("leaf_hash"))
    after = -1
    while True:
        rows = conn.execute(
            sa.select(leaves.c.idx, leaves.c.leaf_hash)
            .where(leaves.c.idx > after)
            .order_by(leaves.c.idx)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield from (bytes.fromhex(h) for _, h in rows)
        after = rows[-1][0]


def _build_nodes(conn: sa.Connection) -> None:
    """Store every perfect subtree of the existing log, streaming its leaves (the nodes are
    written while the next batch of leaves is read; memory stays O(batch + log n))."""
    batch: list[tuple[int, int, bytes]] = []
    for node in nodes_of(0, [], _leaf_hashes(conn)):
        batch.append(node)
        if len(batch) >= _BATCH:
            insert_many(conn, audit_nodes, ("level", "idx", "hash"), batch)
            batch = []
    insert_many(conn, audit_nodes, ("level", "idx", "hash"), batch)


def downgrade() -> None:
    op.drop_table("audit_nodes")
    with op.batch_alter_table("audit_leaves") as batch:
        batch.drop_index("ix_audit_leaves_idx")
        batch.drop_column("idx")
