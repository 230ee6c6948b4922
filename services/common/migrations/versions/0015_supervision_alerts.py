"""supervision alerts: departments whose holder matching was refused (MISMATCH budget spent)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("department_code", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_alerts")),
    )
    op.create_index("ix_supervision_alerts_day", "supervision_alerts", ["day", "id"])


def downgrade() -> None:
    op.drop_index("ix_supervision_alerts_day", table_name="supervision_alerts")
    op.drop_table("supervision_alerts")
