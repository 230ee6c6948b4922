"""federation: nonces of accepted forwarded assertions, kept until they expire (replay refused)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_assertions_seen",
        sa.Column("from_region", sa.String(length=6), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("from_region", "nonce", name=op.f("pk_federation_assertions_seen")),
    )
    op.create_index(
        "ix_federation_assertions_seen_expires", "federation_assertions_seen", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_federation_assertions_seen_expires", table_name="federation_assertions_seen")
    op.drop_table("federation_assertions_seen")
