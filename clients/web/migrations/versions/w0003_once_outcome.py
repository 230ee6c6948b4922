"""one mechanism for acting once: web_once keeps the first submission's outcome

The counter's verifications were kept in memory (lost on a restart, not shared by several
desk processes); now every form's key is claimed in ``web_once`` and the outcome kept beside
it, so a second submission gets the first one's answer. A database whose ``web_once`` was
created directly with the column (before migrations) is kept as it is.

Revision ID: w0003
Revises: w0002
Create Date: 2026-12-04 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "w0003"
down_revision = "w0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("web_once")}
    if "outcome" in columns:
        return
    with op.batch_alter_table("web_once") as batch:
        batch.add_column(sa.Column("outcome", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("web_once") as batch:
        batch.drop_column("outcome")
