"""Consent grants and their uses in SQL (sessions passed in; never commits).

A grant read to be served (:func:`get_grant`, :func:`grants_where`) is revoked when the
tamper-evident log holds its revocation, whatever the table says: a revocation undone in the
table (its ``revoked_at`` cleared) does not make the grant usable again — the log entry would
have to go too, which breaks the signed tree heads. ``yihao audit verify`` reads the table as
it is (:func:`all_grants`) and names the difference.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from services.common.clock import as_utc
from services.common.log_tables import audit_leaves
from services.licence_store.domain.consent import REVOKE_KIND, ConsentGrant
from services.licence_store.persistence.tables import consent_grants, consent_uses

log = logging.getLogger(__name__)


def insert_grant(conn: Connection, grant: ConsentGrant) -> None:
    """Store a new, signed grant."""
    values = {f.name: getattr(grant, f.name) for f in fields(ConsentGrant)}
    conn.execute(insert(consent_grants).values(values | {"type_codes": list(grant.type_codes)}))


def get_grant(conn: Connection, grant_id: str) -> ConsentGrant | None:
    """A grant by id (revoked if its revocation is in the log), or None."""
    row = conn.execute(select(consent_grants).where(consent_grants.c.grant_id == grant_id)).first()
    return _logged_revocations(conn, [_grant(row)])[0] if row is not None else None


def _logged_revocations(conn: Connection, grants: list[ConsentGrant]) -> list[ConsentGrant]:
    """``grants`` with each revocation the log holds applied (one query for them all)."""
    open_ids = [g.grant_id for g in grants if g.revoked_at is None]
    if not open_ids:
        return grants
    rows = conn.execute(
        select(audit_leaves.c.ref, func.min(audit_leaves.c.at))
        .where(audit_leaves.c.kind == REVOKE_KIND, audit_leaves.c.ref.in_(open_ids))
        .group_by(audit_leaves.c.ref)
    ).all()
    logged = {ref: as_utc(at) for ref, at in rows}
    for ref in logged:
        log.warning(
            "consent %s: revoked in the tamper-evident log but not in its table (the "
            "revocation was undone in the database?): treated as revoked",
            ref,
        )
    return [
        replace(g, revoked_at=logged[g.grant_id]) if g.grant_id in logged else g for g in grants
    ]


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
    return _logged_revocations(conn, [_grant(r) for r in rows])


def set_revoked(conn: Connection, grant_id: str, at: datetime, by: str = "") -> bool:
    """Mark a grant revoked from ``at`` (``by``: the organisation's representative, masked);
    False when it already was (the first one counts)."""
    done = conn.execute(
        update(consent_grants)
        .where(consent_grants.c.grant_id == grant_id, consent_grants.c.revoked_at.is_(None))
        .values(revoked_at=at, revoked_by=by)
    )
    return done.rowcount == 1


def all_grants(conn: Connection) -> list[ConsentGrant]:
    """Every grant as the table holds it (for ``yihao audit verify``)."""
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
