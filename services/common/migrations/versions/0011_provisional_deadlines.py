"""assistance requests record whether their deadline was counted on the provisional calendar
(a year with no published arrangement configured), and the time limit it was counted from, so
the deadline can be settled once that year's calendar is configured

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: 2027-01-01 00:00 in China. Until this revision, chinesecalendar (up to 2026) was the only
#: data known to cover a year; a deadline from this instant on was counted without it.
_FIRST_UNCOVERED = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def upgrade() -> None:
    with op.batch_alter_table("assistance_requests") as batch:
        batch.add_column(
            sa.Column(
                "deadline_provisional", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("time_limit_working_days", sa.Integer(), nullable=True))
    requests = sa.table(
        "assistance_requests",
        sa.column("deadline", sa.DateTime(timezone=True)),
        sa.column("deadline_provisional", sa.Boolean()),
    )
    # Settled at the next start against the calendar then configured (a configured year
    # settles to the same deadline or a later one).
    op.execute(
        requests.update()
        .where(requests.c.deadline >= _FIRST_UNCOVERED)
        .values(deadline_provisional=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("assistance_requests") as batch:
        batch.drop_column("time_limit_working_days")
        batch.drop_column("deadline_provisional")
