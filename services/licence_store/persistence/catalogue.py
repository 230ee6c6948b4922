"""The licence store's catalogue tables: departments and their signing keys, licence types,
revoked client certificates. Domain objects in and out; every function takes the unit of
work's :class:`~sqlalchemy.Connection` and never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, delete, insert, select, update

from services.common.clock import as_utc
from services.common.identifiers import HolderKind
from services.licence_store.domain.catalogue import (
    Department,
    FieldSpec,
    FieldType,
    LicenceType,
    Role,
    SigningKeyRecord,
)
from services.licence_store.domain.grants import ReadGrant
from services.licence_store.persistence.tables import (
    department_keys,
    departments,
    licence_type_issuers,
    licence_types,
    read_grants,
    revoked_certificates,
)


def save_department(conn: Connection, dept: Department, at: datetime) -> None:
    """Insert or update a department (its keys are saved separately)."""
    values = {"name": dept.name, "region": dept.region, "roles": _roles_text(dept.roles)}
    done = conn.execute(
        update(departments).where(departments.c.credit_code == dept.credit_code).values(values)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(departments).values(credit_code=dept.credit_code, registered_at=at, **values)
        )


def _roles_text(roles: Iterable[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


def get_department(conn: Connection, code: str) -> Department | None:
    """A department with its signing keys (newest first), or None."""
    row = conn.execute(select(departments).where(departments.c.credit_code == code)).first()
    if row is None:
        return None
    return _department(row, keys_of(conn, code))


def department_registered_at(conn: Connection, code: str) -> datetime | None:
    """When the department was first registered."""
    at = conn.execute(
        select(departments.c.registered_at).where(departments.c.credit_code == code)
    ).scalar()
    return as_utc(at) if at is not None else None


def list_departments(conn: Connection, after: str, limit: int) -> list[Department]:
    """Departments in credit-code order, after ``after``."""
    rows = conn.execute(
        select(departments)
        .where(departments.c.credit_code > after)
        .order_by(departments.c.credit_code)
        .limit(limit)
    ).all()
    return [_department(r, keys_of(conn, r.credit_code)) for r in rows]


def _department(row: Row[Any], keys: Sequence[SigningKeyRecord]) -> Department:
    roles = frozenset(Role(r) for r in row.roles.split(",") if r)
    return Department(row.credit_code, row.name, row.region, roles, tuple(keys))


def keys_of(conn: Connection, code: str) -> list[SigningKeyRecord]:
    """All signing keys of a department, newest first."""
    rows = conn.execute(
        select(department_keys)
        .where(department_keys.c.department_code == code)
        .order_by(department_keys.c.valid_from.desc())
    ).all()
    return [_key(r) for r in rows]


def get_key(conn: Connection, key_id: str) -> SigningKeyRecord | None:
    """One signing key by id."""
    row = conn.execute(select(department_keys).where(department_keys.c.key_id == key_id)).first()
    return _key(row) if row else None


def key_of_row(row: Row[Any]) -> SigningKeyRecord:
    """A signing key from its ``department_keys`` row (other columns may come with it)."""
    return _key(row)


def _key(row: Row[Any]) -> SigningKeyRecord:
    return SigningKeyRecord(
        key_id=row.key_id,
        department_code=row.department_code,
        algorithm=row.algorithm,
        public_key=bytes(row.public_key),
        valid_from=as_utc(row.valid_from),
        valid_until=as_utc(row.valid_until) if row.valid_until else None,
        compromised_at=as_utc(row.compromised_at) if row.compromised_at else None,
    )


def mark_compromised(conn: Connection, key_id: str, at: datetime) -> bool:
    """Record that ``key_id`` is compromised from ``at`` (earliest mark wins); False if unknown."""
    row = conn.execute(select(department_keys).where(department_keys.c.key_id == key_id)).first()
    if row is None:
        return False
    earlier = as_utc(row.compromised_at) if row.compromised_at else None
    when = min(at, earlier) if earlier else at
    until = as_utc(row.valid_until) if row.valid_until else None
    conn.execute(
        update(department_keys)
        .where(department_keys.c.key_id == key_id)
        .values(compromised_at=when, valid_until=min(until, when) if until else when)
    )
    return True


def add_key(conn: Connection, key: SigningKeyRecord, sealed_private_key: bytes) -> None:
    """Store a new signing key (its private half sealed)."""
    conn.execute(
        insert(department_keys).values(
            key_id=key.key_id,
            department_code=key.department_code,
            algorithm=key.algorithm,
            public_key=key.public_key,
            sealed_private_key=sealed_private_key,
            valid_from=key.valid_from,
            valid_until=key.valid_until,
        )
    )


def retire_keys(conn: Connection, department_code: str, at: datetime) -> None:
    """End the validity of the department's current key(s) at ``at``."""
    conn.execute(
        update(department_keys)
        .where(
            and_(
                department_keys.c.department_code == department_code,
                department_keys.c.valid_until.is_(None),
            )
        )
        .values(valid_until=at)
    )


def current_sealed_key(conn: Connection, department_code: str) -> tuple[str, str, bytes] | None:
    """(key id, algorithm, sealed private key) of the department's current key."""
    row = conn.execute(
        select(
            department_keys.c.key_id,
            department_keys.c.algorithm,
            department_keys.c.sealed_private_key,
        )
        .where(
            and_(
                department_keys.c.department_code == department_code,
                department_keys.c.valid_until.is_(None),
            )
        )
        .order_by(department_keys.c.valid_from.desc())
    ).first()
    return (row.key_id, row.algorithm, bytes(row.sealed_private_key)) if row else None


def save_licence_type(conn: Connection, lt: LicenceType, at: datetime) -> None:
    """Insert or replace a licence type and its issuer list."""
    values = {
        "name": lt.name,
        "holder_kind": lt.holder_kind.value,
        "schema": [_spec_json(f) for f in lt.fields],
        "default_validity_days": lt.default_validity_days,
        "definer_code": lt.definer_code,
        "consent_required": lt.consent_required,
        "updated_at": at,
    }
    done = conn.execute(
        update(licence_types).where(licence_types.c.type_code == lt.type_code).values(values)
    )
    if done.rowcount == 0:
        conn.execute(insert(licence_types).values(type_code=lt.type_code, **values))
    conn.execute(
        delete(licence_type_issuers).where(licence_type_issuers.c.type_code == lt.type_code)
    )
    conn.execute(
        insert(licence_type_issuers),
        [{"type_code": lt.type_code, "issuer_code": c} for c in sorted(lt.issuer_codes)],
    )


def _spec_json(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type.value,
        "required": spec.required,
        "sensitive": spec.sensitive,
        "max_length": spec.max_length,
    }


def list_licence_types(conn: Connection) -> list[LicenceType]:
    """Every licence type, by code."""
    issuers: dict[str, set[str]] = {}
    for row in conn.execute(select(licence_type_issuers)):
        issuers.setdefault(row.type_code, set()).add(row.issuer_code)
    rows = conn.execute(select(licence_types).order_by(licence_types.c.type_code)).all()
    return [_licence_type(r, issuers.get(r.type_code, set())) for r in rows]


def _licence_type(row: Row[Any], issuers: set[str]) -> LicenceType:
    specs = tuple(
        FieldSpec(
            name=s["name"],
            label=s["label"],
            type=FieldType(s["type"]),
            required=s["required"],
            sensitive=s["sensitive"],
            max_length=s["max_length"],
        )
        for s in row.schema
    )
    return LicenceType(
        type_code=row.type_code,
        name=row.name,
        holder_kind=HolderKind(row.holder_kind),
        fields=specs,
        default_validity_days=row.default_validity_days,
        issuer_codes=frozenset(issuers),
        consent_required=bool(row.consent_required),
    )


def revoke_certificate(
    conn: Connection, serial: str, department_code: str, reason: str, at: datetime
) -> None:
    """Put a client certificate on the revocation list (again: no change)."""
    if conn.execute(
        select(revoked_certificates.c.serial_number).where(
            revoked_certificates.c.serial_number == serial
        )
    ).first():
        return
    conn.execute(
        insert(revoked_certificates).values(
            serial_number=serial, department_code=department_code, reason=reason, revoked_at=at
        )
    )


def revoked_serials(conn: Connection) -> set[str]:
    """Every revoked certificate serial number."""
    return set(conn.execute(select(revoked_certificates.c.serial_number)).scalars())


def save_read_grant(conn: Connection, grant: ReadGrant, at: datetime) -> None:
    """Insert or replace a read grant (department × licence type)."""
    key = and_(
        read_grants.c.department_code == grant.department_code,
        read_grants.c.type_code == grant.type_code,
    )
    conn.execute(delete(read_grants).where(key))
    conn.execute(
        insert(read_grants).values(
            department_code=grant.department_code,
            type_code=grant.type_code,
            purposes=list(grant.purposes),
            fields=list(grant.fields),
            unmasked_fields=list(grant.unmasked_fields),
            updated_at=at,
        )
    )


def list_read_grants(conn: Connection) -> list[ReadGrant]:
    """Every read grant."""
    return [
        ReadGrant(
            department_code=r.department_code,
            type_code=r.type_code,
            purposes=tuple(r.purposes),
            fields=tuple(r.fields),
            unmasked_fields=tuple(r.unmasked_fields),
        )
        for r in conn.execute(select(read_grants))
    ]
