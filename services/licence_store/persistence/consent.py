"""Consent grants and their uses in SQL (sessions passed in; never commits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from services.common.clock import as_utc
from services.licence_store.domain.consent import ConsentGrant
from services.licence_store.persistence.tables import consent_grants, consent_uses


def insert_grant(conn: Connection, grant: ConsentGrant) -> None:
    """Store a new, signed grant."""
    values = {f.name: getattr(grant, f.name) for f in fields(ConsentGrant)}
    conn.execute(insert(consent_grants).values(values | {"type_codes": list(grant.type_codes)}))


def get_grant(conn: Connection, grant_id: str) -> ConsentGrant | None:
    """A grant by id, or None."""
    row = conn.execute(select(consent_grants).where(consent_grants.c.grant_id == grant_id)).first()
    return _grant(row) if row is not None else None


def grants_where(
    conn: Connection, *, holder_key: str = "", department_code: str = "", after: str, limit: int
) -> list[ConsentGrant]:
    """A holder's grants, or the grants given to a department, by id after ``after``."""
    stmt = select(consent_grants)
    if holder_key:
        stmt = stmt.where(consent_grants.c.holder_key == holder_key)
    if department_code:
        stmt = stmt.where(consent_grants.c.department_code == department_code)
    if after:
        stmt = stmt.where(consent_grants.c.grant_id > after)
    rows = conn.execute(stmt.order_by(consent_grants.c.grant_id).limit(limit)).all()
    return [_grant(r) for r in rows]


def set_revoked(conn: Connection, grant_id: str, at: datetime) -> bool:
    """Mark a grant revoked from ``at``; False when it already was (the first one counts)."""
    done = conn.execute(
        update(consent_grants)
        .where(consent_grants.c.grant_id == grant_id, consent_grants.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return done.rowcount == 1


def all_grants(conn: Connection) -> list[ConsentGrant]:
    """Every grant (for ``yihao audit verify``)."""
    rows = conn.execute(select(consent_grants).order_by(consent_grants.c.grant_id)).all()
    return [_grant(r) for r in rows]


def add_use(
    conn: Connection,
    grant_id: str,
    department: str,
    channel: str,
    what: str,
    outcome: str,
    at: datetime,
) -> None:
    """Record one use of a grant, or one refused attempt (``outcome`` says which)."""
    conn.execute(
        insert(consent_uses).values(
            grant_id=grant_id,
            department_code=department,
            channel=channel,
            what=what[:500],
            outcome=outcome,
            at=at,
        )
    )


def uses_of(conn: Connection, grant_ids: Sequence[str], limit: int = 100) -> dict[str, list[Any]]:
    """The newest uses of each grant (at most ``limit`` each), newest first."""
    found: dict[str, list[Any]] = {g: [] for g in grant_ids}
    if not grant_ids:
        return found
    rows = conn.execute(
        select(consent_uses)
        .where(consent_uses.c.grant_id.in_(list(grant_ids)))
        .order_by(consent_uses.c.id.desc())
    ).all()
    for r in rows:
        if len(found[r.grant_id]) < limit:
            found[r.grant_id].append(r)
    return found


def _grant(row: Row[Any]) -> ConsentGrant:
    # The table's columns are the grant's fields, by name (tables.consent_grants).
    stored = {f.name: getattr(row, f.name) for f in fields(ConsentGrant)}
    stored.update(
        type_codes=tuple(row.type_codes),
        granted_at=as_utc(row.granted_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
        signature=bytes(row.signature),
    )
    return ConsentGrant(**stored)
