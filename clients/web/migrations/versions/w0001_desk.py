"""the desk's first tables: staff accounts, server-side sessions, sign-in records

Revision ID: w0001
Revises:
Create Date: 2026-12-04 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "w0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_accounts",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_web_sessions_created", "web_sessions", ["created_at"])
    op.create_table(
        "web_sign_ins",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("client_address", sa.String(64), nullable=True),
    )
    op.create_index("ix_web_sign_ins_account", "web_sign_ins", ["account_id", "at"])
    op.create_index("ix_web_sign_ins_address", "web_sign_ins", ["client_address", "at"])


def downgrade() -> None:
    op.drop_table("web_sign_ins")
    op.drop_table("web_sessions")
    op.drop_table("web_accounts")
