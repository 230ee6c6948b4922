"""read grants: which department may read what of a licence type, and for which purposes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_grants",
        sa.Column("department_code", sa.String(length=18), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("unmasked_fields", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["licence_types.type_code"],
            name=op.f("fk_read_grants_type_code_licence_types"),
        ),
        sa.PrimaryKeyConstraint("department_code", "type_code", name=op.f("pk_read_grants")),
    )


def downgrade() -> None:
    op.drop_table("read_grants")
