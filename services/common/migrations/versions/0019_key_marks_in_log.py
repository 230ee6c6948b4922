"""key marks in the log: one entry per existing signing key that was ever retired or marked
compromised, committing to its state; from now on every change of a key's marks appends one

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 18:00:00

A key is trusted only when its stored marks are the ones its newest entry commits to
(services.licence_store.key_log). The entries appended here attest the marks as stored when
the migration ran: an edit made before it is not caught.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services.common import merkle
from services.common.audit_log import leaf_data
from services.common.clock import as_utc
from services.common.log_tree import extend
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.key_log import key_entry

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    keys = sa.table(
        "department_keys",
        *(sa.column(c) for c in ("key_id", "department_code", "algorithm", "public_key")),
        *(sa.column(c, sa.DateTime(timezone=True)) for c in _INSTANTS),
    )
    rows = conn.execute(
        sa.select(keys)
        .where(sa.or_(keys.c.valid_until.is_not(None), keys.c.compromised_at.is_not(None)))
        .order_by(keys.c.key_id)
    ).all()
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        op.execute("LOCK TABLE audit_leaves IN EXCLUSIVE MODE")
    leaves = sa.table(
        "audit_leaves",
        *(sa.column(c) for c in ("idx", "kind", "ref", "payload_sha256", "leaf_hash")),
        sa.column("at", sa.DateTime(timezone=True)),
    )
    last = conn.execute(sa.select(sa.func.max(leaves.c.idx))).scalar()
    size = 0 if last is None else int(last) + 1
    now = datetime.now(UTC)
    hashes = []
    for i, r in enumerate(rows):
        entry = key_entry(
            SigningKeyRecord(
                key_id=r.key_id,
                department_code=r.department_code,
                algorithm=r.algorithm,
                public_key=bytes(r.public_key),
                valid_from=as_utc(r.valid_from),
                valid_until=as_utc(r.valid_until) if r.valid_until else None,
                compromised_at=as_utc(r.compromised_at) if r.compromised_at else None,
            )
        )
        leaf = merkle.leaf_hash(leaf_data(entry))
        hashes.append(leaf)
        conn.execute(
            sa.insert(leaves).values(
                idx=size + i,
                kind=entry.kind,
                ref=entry.ref,
                payload_sha256=entry.payload_sha256,
                leaf_hash=leaf.hex(),
                at=now,
            )
        )
    extend(conn, size, hashes)


_INSTANTS = ("valid_from", "valid_until", "compromised_at")


def downgrade() -> None:
    # The entries stay in the log: a log is only ever appended to.
    pass
