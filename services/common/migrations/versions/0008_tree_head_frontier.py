"""tree heads keep their Merkle frontier, so the next head reads only the leaves after them;
maintenance marks, so a finished re-seal is not re-scanned at every start

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Heads signed before this migration have neither: the next head is computed from every
    # leaf once, and carries them from then on.
    with op.batch_alter_table("tree_heads") as batch:
        batch.add_column(sa.Column("last_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("frontier", sa.Text(), nullable=True))
    op.create_table(
        "maintenance_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_marks")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_marks")
    with op.batch_alter_table("tree_heads") as batch:
        batch.drop_column("frontier")
        batch.drop_column("last_seq")
