"""the tamper-evident log's queue: entries written in their record's transaction and appended
to the tree in batches by a sequencer (services.common.audit_log.queue / sequence)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_queue",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_queue")),
    )


def downgrade() -> None:
    # Entries still queued are appended first: dropping them would lose evidence.
    from services.common.audit_log import sequence

    sequence(op.get_bind())
    op.drop_table("audit_queue")
