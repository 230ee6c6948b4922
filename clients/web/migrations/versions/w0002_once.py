"""one-time form keys already acted on (web_once; the supervision room's urging form)

A desk database made before the desk had migrations may already hold this table (it was
created directly then): it is kept as it is.

Revision ID: w0002
Revises: w0001
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "w0002"
down_revision = "w0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "web_once" in sa.inspect(op.get_bind()).get_table_names():
        return
    op.create_table(
        "web_once",
        sa.Column("form_key", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_web_once_at", "web_once", ["at"])


def downgrade() -> None:
    op.drop_table("web_once")
