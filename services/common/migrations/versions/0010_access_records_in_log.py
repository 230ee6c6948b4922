"""access records join the tamper-evident log: each write's records carry a batch id that
one log entry covers; the records already stored are covered by one entry made here

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services.common import merkle
from services.common.access_log import KIND, LEGACY_BATCH, row_line
from services.common.audit_log import Entry, leaf_data
from services.common.log_tree import extend

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_BATCH = 20_000


def upgrade() -> None:
    with op.batch_alter_table("access_records") as batch:
        batch.add_column(sa.Column("batch", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    digest = _legacy_digest(conn)
    if digest is not None:
        _append_leaf(conn, Entry(KIND, LEGACY_BATCH, digest))


def _legacy_digest(conn: sa.Connection) -> str | None:
    """The digest of every record stored so far, in id order (None when there are none)."""
    records = sa.table(
        "access_records",
        *(
            sa.column(c)
            for c in (
                "id",
                "holder_key",
                "department_code",
                "channel",
                "purpose",
                "case_number",
                "what",
            )
        ),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    digest, after, seen = hashlib.sha256(), -1, False
    while True:
        rows = conn.execute(
            sa.select(records).where(records.c.id > after).order_by(records.c.id).limit(_BATCH)
        ).all()
        if not rows:
            return digest.hexdigest() if seen else None
        for r in rows:
            values = (r.holder_key, r.department_code, r.channel, r.purpose, r.case_number)
            digest.update(row_line((*values, r.what, r.at, None)).encode())
        seen, after = True, rows[-1].id


def _append_leaf(conn: sa.Connection, entry: Entry) -> None:
    """One leaf at the end of the log, with the subtrees it completes (as 0009 left it)."""
    if conn.dialect.name == "postgresql":
        op.execute("LOCK TABLE audit_leaves IN EXCLUSIVE MODE")
    leaves = sa.table(
        "audit_leaves",
        *(sa.column(c) for c in ("idx", "kind", "ref", "payload_sha256", "leaf_hash")),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    last = conn.execute(sa.select(sa.func.max(leaves.c.idx))).scalar()
    size = 0 if last is None else int(last) + 1
    leaf = merkle.leaf_hash(leaf_data(entry))
    conn.execute(
        sa.insert(leaves).values(
            idx=size,
            kind=entry.kind,
            ref=entry.ref,
            payload_sha256=entry.payload_sha256,
            leaf_hash=leaf.hex(),
            at=datetime.now(UTC),
        )
    )
    extend(conn, size, [leaf])


def downgrade() -> None:
    # The legacy entry stays in the log: a log is only ever appended to.
    with op.batch_alter_table("access_records") as batch:
        batch.drop_column("batch")
