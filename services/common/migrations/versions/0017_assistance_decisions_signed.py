"""assistance decisions signed: each decision's signed statement (naming its own request id and
the hash of what was decided) and the signature, kept with the request

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 17:30:00

Decisions made before this revision stay unsigned (their log entries commit to their content
as before, and ``yihao audit verify`` checks them so); every decision from now on is signed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assistance_requests") as batch:
        batch.add_column(sa.Column("decision_body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("decision_signature", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("decision_key_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assistance_requests") as batch:
        batch.drop_column("decision_key_id")
        batch.drop_column("decision_signature")
        batch.drop_column("decision_body")
