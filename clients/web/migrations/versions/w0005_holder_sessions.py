"""holder sessions in the desk database (web_holder_sessions), no longer in the desk
process's memory: a restart keeps holders signed in, several desk processes share them

Revision ID: w0005
Revises: w0004
Create Date: 2026-12-04 21:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "w0005"
down_revision = "w0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "web_holder_sessions" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "web_holder_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("holder_sealed", sa.Text, nullable=True),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_web_holder_sessions_created", "web_holder_sessions", ["created_at"])


def downgrade() -> None:
    op.drop_table("web_holder_sessions")
