"""the requests forwarded to other regions get a change sequence, so WatchMyRequests streams
them with the department's own requests

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 02:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("assistance_forwarded", sa.Column("changed_seq", sa.BigInteger(), nullable=True))
    # Rows forwarded before: changed "at the beginning" (a watch's backlog still lists the
    # pending ones; any later change gets a real sequence).
    op.execute("UPDATE assistance_forwarded SET changed_seq = 1")
    op.create_index(
        "ix_assistance_forwarded_changes",
        "assistance_forwarded",
        ["requester_code", "changed_seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_assistance_forwarded_changes", table_name="assistance_forwarded")
    with op.batch_alter_table("assistance_forwarded") as batch:
        batch.drop_column("changed_seq")
