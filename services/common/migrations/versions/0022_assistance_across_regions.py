"""assistance across regions: a request's requester region (the provider's side), and the
requests this region's departments sent to peer regions (the requester's side)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy: on SQLite that would recreate a referenced table).
    op.add_column(
        "assistance_requests", sa.Column("requester_region", sa.String(length=6), nullable=True)
    )
    op.create_table(
        "assistance_forwarded",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("item_code", sa.String(length=32), nullable=False),
        sa.Column("item_name", sa.String(length=200), nullable=False),
        sa.Column("requester_code", sa.String(length=18), nullable=False),
        sa.Column("requester_staff", sa.String(length=64), nullable=True),
        sa.Column("provider_code", sa.String(length=18), nullable=False),
        sa.Column("holder_index", sa.String(length=64), nullable=False),
        sa.Column("holder_masked", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_sha256", sa.String(length=64), nullable=True),
        sa.Column("urgings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_assistance_forwarded")),
    )
    op.create_index(
        "ix_assistance_forwarded_requester",
        "assistance_forwarded",
        ["requester_code", "submitted_at"],
    )
    op.create_index(
        "ix_assistance_forwarded_pending", "assistance_forwarded", ["status", "deadline"]
    )


def downgrade() -> None:
    op.drop_index("ix_assistance_forwarded_pending", table_name="assistance_forwarded")
    op.drop_index("ix_assistance_forwarded_requester", table_name="assistance_forwarded")
    op.drop_table("assistance_forwarded")
    with op.batch_alter_table("assistance_requests") as batch:
        batch.drop_column("requester_region")
