"""the requester's staff member on an assistance request, so the access record of an answer
that comes later (from the provider) names them too (NULL: none named, or before this)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assistance_requests") as batch:
        batch.add_column(sa.Column("requester_staff", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assistance_requests") as batch:
        batch.drop_column("requester_staff")
