"""consent: holders' grants (signed by the portal), their uses, and consent-required types

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy: on SQLite that would recreate a table others
    # reference by foreign key).
    op.add_column(
        "licence_types",
        sa.Column("consent_required", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "consent_grants",
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("holder_key", sa.String(length=64), nullable=False),
        sa.Column("holder_masked", sa.String(length=32), nullable=False),
        sa.Column("holder_kind", sa.String(length=16), nullable=False),
        sa.Column("department_code", sa.String(length=18), nullable=False),
        sa.Column("type_codes", sa.JSON(), nullable=False),
        sa.Column("licence_id", sa.String(length=120), nullable=False),
        sa.Column("licence_serial", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("portal_code", sa.String(length=18), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_consent_grants")),
    )
    op.create_index("ix_consent_grants_holder", "consent_grants", ["holder_key", "grant_id"])
    op.create_index(
        "ix_consent_grants_department", "consent_grants", ["department_code", "grant_id"]
    )
    op.create_table(
        "consent_uses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("department_code", sa.String(length=18), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("what", sa.String(length=500), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_uses")),
    )
    op.create_index("ix_consent_uses_grant", "consent_uses", ["grant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_consent_uses_grant", table_name="consent_uses")
    op.drop_table("consent_uses")
    op.drop_index("ix_consent_grants_department", table_name="consent_grants")
    op.drop_index("ix_consent_grants_holder", table_name="consent_grants")
    op.drop_table("consent_grants")
    op.drop_column("licence_types", "consent_required")
