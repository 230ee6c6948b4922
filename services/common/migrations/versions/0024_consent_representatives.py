"""an organisation's consent grant keeps which representative granted it and which revoked it
(masked ID numbers)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in ("granted_by", "revoked_by"):
        op.add_column(
            "consent_grants",
            sa.Column(column, sa.String(32), nullable=False, server_default=""),
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_grants") as batch:
        batch.drop_column("revoked_by")
        batch.drop_column("granted_by")
