"""assistance answers sealed at rest

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

An automatic assistance answer carries licence fields, sensitive ones among them (a spouse's
name, an address), and the answer was stored as clear JSON in ``assistance_requests.answer``
though licence versions seal the same values. The whole answer is now sealed (AES-GCM under
the master key ring, bound to its request) in ``answer_sealed``; ``answer`` keeps ``{}``.
Existing answers are sealed here with the master keys, which ``yihao db upgrade`` and the
server pass to Alembic; a database holding answers refuses to run this without them rather
than leave them in clear.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _answer(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return dict(data) if isinstance(data, dict) else {}


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("assistance_requests") as batch:
        batch.add_column(sa.Column("answer_sealed", sa.LargeBinary(), nullable=True))
    rows = conn.execute(sa.text("SELECT request_id, answer FROM assistance_requests")).all()
    answered = [(rid, _answer(raw)) for rid, raw in rows]
    answered = [(rid, answer) for rid, answer in answered if answer]
    if not answered:
        return
    vault = context.config.attributes.get("vault")
    if vault is None:
        raise RuntimeError(
            "migration 0012 seals stored assistance answers: run it with the master keys "
            "configured (`yihao db upgrade`, or start the server)"
        )
    for request_id, answer in answered:
        conn.execute(
            sa.text(
                "UPDATE assistance_requests SET answer = :clear, answer_sealed = :sealed "
                "WHERE request_id = :r"
            ),
            {
                "clear": "{}",
                "sealed": vault.seal_values(answer, f"request:{request_id}"),
                "r": request_id,
            },
        )


def downgrade() -> None:
    raise RuntimeError("sealed assistance answers are not decrypted back by a downgrade")
