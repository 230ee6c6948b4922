"""access records are found by a number derived from the holder key (holder_tag), indexed in
place of the 64-character key itself: the batch path's per-record insert cost half as much

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

CHUNK = 10_000


def upgrade() -> None:
    from services.common.access_log import holder_tag

    with op.batch_alter_table("access_records") as batch:
        batch.add_column(sa.Column("holder_tag", sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    after = 0
    while rows := conn.execute(
        sa.text("SELECT id, holder_key FROM access_records WHERE id > :after ORDER BY id LIMIT :n"),
        {"after": after, "n": CHUNK},
    ).all():
        conn.execute(
            sa.text("UPDATE access_records SET holder_tag = :t WHERE id = :i"),
            [{"t": holder_tag(key), "i": rid} for rid, key in rows],
        )
        after = rows[-1][0]
    with op.batch_alter_table("access_records") as batch:
        batch.alter_column("holder_tag", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_index("ix_access_records_holder")
        batch.create_index("ix_access_records_holder_tag", ["holder_tag", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("access_records") as batch:
        batch.drop_index("ix_access_records_holder_tag")
        batch.create_index("ix_access_records_holder", ["holder_key", "id"], unique=False)
        batch.drop_column("holder_tag")
