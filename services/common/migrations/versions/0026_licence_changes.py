"""SQLite: every write to a licence, its versions or its status statements notes the licence's
serial in licence_changes (triggers), so a reader that keeps current rows in memory knows
exactly which ones changed since it last looked (services/licence_store/current_rows.py)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 06:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL commits out of sequence order: its readers read every row
    from services.licence_store.persistence.changes import create_statements

    for statement in create_statements():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    from services.licence_store.persistence.changes import drop_statements

    for statement in drop_statements():
        op.execute(statement)
