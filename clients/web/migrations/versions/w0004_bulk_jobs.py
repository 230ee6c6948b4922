"""the operator desk's bulk imports: web_bulk_jobs (one per uploaded file, its progress) and
web_bulk_results (each line's outcome, the downloadable report)

Revision ID: w0004
Revises: w0003
Create Date: 2026-12-04 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "w0004"
down_revision = "w0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "web_bulk_jobs" not in tables:
        op.create_table(
            "web_bulk_jobs",
            sa.Column("job_id", sa.String(32), primary_key=True),
            sa.Column("account_id", sa.String(64), nullable=False),
            sa.Column("department", sa.String(18), nullable=False),
            sa.Column("file_name", sa.String(200), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("done", sa.Integer, nullable=False),
            sa.Column("accepted", sa.Integer, nullable=False),
            sa.Column("duplicate", sa.Integer, nullable=False),
            sa.Column("rejected", sa.Integer, nullable=False),
            sa.Column("error", sa.Text, nullable=True),
            sa.Column("created_at", sa.Float, nullable=False),
            sa.Column("finished_at", sa.Float, nullable=True),
        )
        op.create_index(
            "ix_web_bulk_jobs_department", "web_bulk_jobs", ["department", "created_at"]
        )
    if "web_bulk_results" not in tables:
        op.create_table(
            "web_bulk_results",
            sa.Column("job_id", sa.String(32), primary_key=True),
            sa.Column("line", sa.Integer, primary_key=True),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("licence_id", sa.String(200), nullable=False),
            sa.Column("reason_code", sa.String(64), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("web_bulk_results")
    op.drop_table("web_bulk_jobs")
