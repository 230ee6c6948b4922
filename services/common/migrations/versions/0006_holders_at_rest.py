"""holder numbers at rest: blind index and sealed value

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

Existing rows are converted with the master key ring, which ``yihao db upgrade`` and the
server pass to Alembic (``config.attributes["vault"]``); on a database that already holds
rows, running without it stops with a clear message rather than losing data.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("licences", "access_records", "assistance_requests", "commitments", "licence_versions")


def _vault() -> Any:
    vault = context.config.attributes.get("vault")
    if vault is None:
        raise RuntimeError(
            "migration 0006 encrypts existing holder numbers: run it with the master keys "
            "configured (`yihao db upgrade`, or start the server)"
        )
    return vault


def _has_rows(conn: sa.Connection) -> bool:
    return any(conn.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first() for t in TABLES)


def upgrade() -> None:
    conn = op.get_bind()
    vault = _vault() if _has_rows(conn) else None
    for table, _old, new_index, new_sealed in (
        ("licences", "holder_number", "holder_index", "holder_sealed"),
        ("assistance_requests", "holder_number", "holder_index", "holder_sealed"),
        ("commitments", "applicant_number", "applicant_index", "applicant_sealed"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(new_index, sa.String(64), nullable=True))
            batch.add_column(sa.Column(new_sealed, sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("licence_versions") as batch:
        batch.add_column(sa.Column("sealed_fields", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("access_records") as batch:
        batch.add_column(sa.Column("holder_key", sa.String(64), nullable=True))
    if vault is not None:
        _convert(conn, vault)
    _finish()


def _convert(conn: sa.Connection, vault: Any) -> None:
    from services.common.identifiers import HolderKind, HolderNumber, parse_holder_number

    for table, key, kind_col, old, idx, sealed in (
        ("licences", "serial", "holder_kind", "holder_number", "holder_index", "holder_sealed"),
        (
            "assistance_requests",
            "request_id",
            "holder_kind",
            "holder_number",
            "holder_index",
            "holder_sealed",
        ),
        (
            "commitments",
            "commitment_id",
            "applicant_kind",
            "applicant_number",
            "applicant_index",
            "applicant_sealed",
        ),
    ):
        rows = conn.execute(sa.text(f"SELECT {key}, {kind_col}, {old} FROM {table}")).all()
        for ref, kind, number in rows:
            s = vault.seal_holder(HolderNumber(HolderKind(kind), number), "", ref)
            conn.execute(
                sa.text(f"UPDATE {table} SET {idx} = :i, {sealed} = :s WHERE {key} = :k"),
                {"i": s.index, "s": s.sealed, "k": ref},
            )
    for rid, number in conn.execute(sa.text("SELECT id, holder_number FROM access_records")).all():
        conn.execute(
            sa.text("UPDATE access_records SET holder_key = :h WHERE id = :i"),
            {"h": vault.index(parse_holder_number(number)), "i": rid},
        )
    _seal_sensitive_fields(conn, vault)


def _seal_sensitive_fields(conn: sa.Connection, vault: Any) -> None:
    import json

    sensitive = {
        code: {
            f["name"]
            for f in (json.loads(schema) if isinstance(schema, str) else schema)
            if f.get("sensitive")
        }
        for code, schema in conn.execute(sa.text("SELECT type_code, schema FROM licence_types"))
    }
    rows = conn.execute(
        sa.text(
            "SELECT v.serial, v.version, v.fields, l.type_code FROM licence_versions v "
            "JOIN licences l ON l.serial = v.serial"
        )
    ).all()
    for serial, version, fields, type_code in rows:
        data = json.loads(fields) if isinstance(fields, str) else dict(fields)
        secret = {k: v for k, v in data.items() if k in sensitive.get(type_code, set())}
        if not secret:
            continue
        clear = {k: v for k, v in data.items() if k not in secret}
        conn.execute(
            sa.text(
                "UPDATE licence_versions SET fields = :f, sealed_fields = :s "
                "WHERE serial = :serial AND version = :version"
            ),
            {
                "f": json.dumps(clear, ensure_ascii=False),
                "s": vault.seal_values(secret, f"{serial}:{version}"),
                "serial": serial,
                "version": version,
            },
        )


def _finish() -> None:
    for table, old, idx, sealed in (
        ("licences", "holder_number", "holder_index", "holder_sealed"),
        ("assistance_requests", "holder_number", "holder_index", "holder_sealed"),
        ("commitments", "applicant_number", "applicant_index", "applicant_sealed"),
    ):
        with op.batch_alter_table(table) as batch:
            if table == "licences":
                batch.drop_index("ix_licences_holder")
            batch.alter_column(idx, existing_type=sa.String(64), nullable=False)
            batch.alter_column(sealed, existing_type=sa.LargeBinary(), nullable=False)
            batch.drop_column(old)
            if table == "licences":
                batch.create_index("ix_licences_holder", ["holder_index", "type_code"])
    with op.batch_alter_table("access_records") as batch:
        batch.drop_index("ix_access_records_holder")
        batch.alter_column("holder_key", existing_type=sa.String(64), nullable=False)
        batch.drop_column("holder_number")
        batch.create_index("ix_access_records_holder", ["holder_key", "id"])


def downgrade() -> None:
    raise RuntimeError("holder numbers cannot be decrypted back into clear columns by a downgrade")
