"""Repositories of the licence store: domain objects in, domain objects out.

Every function takes the unit of work's :class:`~sqlalchemy.Connection` and never commits.
Statements are SQLAlchemy Core, which on this machine costs a fraction of an ORM session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import ColumnElement

from services.common import audit_log
from services.common.clock import as_utc
from services.common.database import insert_rows
from services.common.identifiers import HolderKind, HolderNumber, mint_licence_identifier
from services.common.signing import canonical_json, sha256_hex
from services.licence_store.audit import event_entry
from services.licence_store.domain.catalogue import (
    Department,
    FieldSpec,
    FieldType,
    LicenceType,
    Role,
    SigningKeyRecord,
)
from services.licence_store.domain.licence import (
    Event,
    EventKind,
    Licence,
    Reason,
    Status,
    Validity,
)
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.persistence.tables import (
    department_keys,
    departments,
    idempotency_keys,
    licence_events,
    licence_type_issuers,
    licence_types,
    licence_versions,
    licences,
    revoked_certificates,
)

# An arbitrary, fixed advisory-lock id: event inserts on PostgreSQL take it so that cursors
# become visible in the order they were allocated (a follower never skips a late commit).
EVENT_ORDER_LOCK = 0x59494841  # "YIHA"


@dataclass(frozen=True)
class SignedVersion:
    """How one licence version was signed."""

    licence_id: str
    key_id: str
    algorithm: str
    signature: bytes
    content_sha256: str


@dataclass(frozen=True)
class StoredLicence:
    """A licence as read back: the domain object and its current version's signature."""

    licence: Licence
    signed: SignedVersion


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored, with its cursor."""

    cursor: int
    serial: str
    type_code: str
    issuer_code: str
    event: Event

    @property
    def licence_id(self) -> str:
        """The e-licence identifier of the version the event left the licence at."""
        ident = mint_licence_identifier(
            self.type_code, self.issuer_code, self.serial, self.event.version
        )
        return str(ident)


# --------------------------------------------------------------------------------- catalogue


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


# ---------------------------------------------------------------------------------- licences


def insert_licences(
    conn: Connection, batch: Sequence[tuple[Licence, SignedVersion]], codec: LicenceCodec
) -> None:
    """Insert newly issued licences with their first version and pending events."""
    if not batch:
        return
    insert_rows(conn, licences, [_licence_row(lic, codec) for lic, _ in batch])
    insert_rows(conn, licence_versions, [_version_row(lic, sv, codec) for lic, sv in batch])
    signed = {lic.serial: sv.content_sha256 for lic, sv in batch}  # hashed when signed
    _insert_events(conn, [(lic, e) for lic, _ in batch for e in lic.take_events()], signed)


def update_licence(
    conn: Connection, lic: Licence, signed: SignedVersion | None, codec: LicenceCodec
) -> None:
    """Persist a changed licence: a new version if ``signed``, and its pending events."""
    row = _licence_row(lic, codec)
    conn.execute(update(licences).where(licences.c.serial == lic.serial).values(row))
    if signed is not None:
        conn.execute(insert(licence_versions).values(_version_row(lic, signed, codec)))
    _insert_events(conn, [(lic, e) for e in lic.take_events()])


def _licence_row(lic: Licence, codec: LicenceCodec) -> dict[str, Any]:
    return {
        "serial": lic.serial,
        "type_code": lic.type_code,
        "licence_number": lic.licence_number,
        "issuer_code": lic.issuer_code,
        "holder_kind": lic.holder.kind.value,
        **codec.holder_columns(lic),
        "current_version": lic.version,
        "status": lic.status.value,
        "status_reason_code": lic.status_reason.code if lic.status_reason else None,
        "status_reason_text": lic.status_reason.text if lic.status_reason else None,
        "status_at": lic.status_at,
        "issued_at": lic.issued_at,
    }


def _version_row(lic: Licence, signed: SignedVersion, codec: LicenceCodec) -> dict[str, Any]:
    return {
        "serial": lic.serial,
        "version": lic.version,
        "licence_id": signed.licence_id,
        "holder_name": lic.holder_name,
        **codec.field_columns(lic),
        "valid_from": lic.validity.valid_from,
        "valid_until": lic.validity.valid_until,
        "version_at": lic.version_at,
        "key_id": signed.key_id,
        "algorithm": signed.algorithm,
        "signature": signed.signature,
        "content_sha256": signed.content_sha256,
    }


def _insert_events(
    conn: Connection,
    events: Sequence[tuple[Licence, Event]],
    content_hashes: dict[str, str] | None = None,
) -> None:
    if not events:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_ORDER_LOCK})
    insert_rows(
        conn,
        licence_events,
        [
            {
                "serial": lic.serial,
                "type_code": lic.type_code,
                "issuer_code": lic.issuer_code,
                "kind": e.kind.value,
                "version": e.version,
                "actor_code": e.actor_code,
                "status_after": e.status_after.value,
                "reason_code": e.reason.code if e.reason else None,
                "reason_text": e.reason.text if e.reason else None,
                "at": e.at,
            }
            for lic, e in events
        ],
    )
    hashes = dict(content_hashes or {})
    for lic, _ in events:
        if lic.serial not in hashes:
            hashes[lic.serial] = sha256_hex(canonical_json(lic.content(), plain=True))
    entries = [event_entry(lic.serial, e, hashes[lic.serial]) for lic, e in events]
    audit_log.append(conn, entries, events[-1][1].at)


_JOINED = select(licences, licence_versions).join(
    licence_versions,
    and_(
        licence_versions.c.serial == licences.c.serial,
        licence_versions.c.version == licences.c.current_version,
    ),
)


_BY_SERIAL = _JOINED.where(licences.c.serial == bindparam("serial"))
_BY_SERIAL_FOR_UPDATE = _BY_SERIAL.with_for_update(of=licences)


def get_by_serial(
    conn: Connection, serial: str, codec: LicenceCodec, *, for_update: bool = False
) -> StoredLicence | None:
    """The licence with this serial, at its current version (statement built once)."""
    stmt = _BY_SERIAL_FOR_UPDATE if for_update else _BY_SERIAL
    row = conn.execute(stmt, {"serial": serial}).first()
    return _stored(row, codec) if row else None


def current_licence_ids(conn: Connection, serials: Sequence[str]) -> dict[str, str]:
    """The current-version e-licence identifier of each serial."""
    if not serials:
        return {}
    rows = conn.execute(
        select(licence_versions.c.serial, licence_versions.c.licence_id)
        .join(
            licences,
            and_(
                licences.c.serial == licence_versions.c.serial,
                licences.c.current_version == licence_versions.c.version,
            ),
        )
        .where(licences.c.serial.in_(serials))
    )
    return {serial: licence_id for serial, licence_id in rows}


def get_many_by_serial(
    conn: Connection, serials: Sequence[str], codec: LicenceCodec
) -> dict[str, StoredLicence]:
    """Licences by serial, at their current versions, in one query."""
    if not serials:
        return {}
    rows = conn.execute(_JOINED.where(licences.c.serial.in_(serials))).all()
    return {r.serial: _stored(r, codec) for r in rows}


def find_serial_by_number(conn: Connection, type_code: str, number: str) -> str | None:
    """The serial of the licence of ``type_code`` with the issuing system's ``number``."""
    return conn.execute(
        select(licences.c.serial).where(
            and_(licences.c.type_code == type_code, licences.c.licence_number == number)
        )
    ).scalar()


def get_version(
    conn: Connection, serial: str, version: int, codec: LicenceCodec
) -> StoredLicence | None:
    """One version of a licence (status fields are the licence's current ones)."""
    stmt = (
        select(licences, licence_versions)
        .join(licence_versions, licence_versions.c.serial == licences.c.serial)
        .where(and_(licences.c.serial == serial, licence_versions.c.version == version))
    )
    row = conn.execute(stmt).first()
    return _stored(row, codec) if row else None


def list_versions(conn: Connection, serial: str, codec: LicenceCodec) -> list[StoredLicence]:
    """Every version of a licence, oldest first."""
    stmt = (
        select(licences, licence_versions)
        .join(licence_versions, licence_versions.c.serial == licences.c.serial)
        .where(licences.c.serial == serial)
        .order_by(licence_versions.c.version)
    )
    return [_stored(r, codec) for r in conn.execute(stmt)]


def list_by_holder(
    conn: Connection,
    holder: HolderNumber,
    type_codes: Sequence[str],
    statuses: Sequence[Status],
    after_serial: str,
    limit: int,
    codec: LicenceCodec,
) -> list[StoredLicence]:
    """A holder's licences (found by blind index) in serial order after ``after_serial``."""
    stmt = _JOINED.where(
        and_(
            licences.c.holder_index == codec.holder_index(holder),
            licences.c.serial > after_serial,
        )
    )
    if type_codes:
        stmt = stmt.where(licences.c.type_code.in_(type_codes))
    if statuses:
        stmt = stmt.where(licences.c.status.in_([s.value for s in statuses]))
    rows = conn.execute(stmt.order_by(licences.c.serial).limit(limit)).all()
    return [_stored(r, codec) for r in rows]


def _stored(row: Row[Any], codec: LicenceCodec) -> StoredLicence:
    return stored_from_mapping(row._mapping, codec)


def stored_from_mapping(m: Mapping[Any, Any], codec: LicenceCodec) -> StoredLicence:
    """A joined licences + licence_versions row (values typed) as the domain's object."""
    holder, salt = codec.holder(m["holder_kind"], bytes(m["holder_sealed"]), m["serial"])
    reason = (
        Reason(m["status_reason_code"], m["status_reason_text"] or "")
        if m["status_reason_code"]
        else None
    )
    lic = Licence(
        type_code=m["type_code"],
        issuer_code=m["issuer_code"],
        serial=m["serial"],
        licence_number=m["licence_number"],
        holder=holder,
        holder_name=m["holder_name"],
        fields=codec.fields(dict(m["fields"]), m["sealed_fields"], m["serial"], m["version"]),
        validity=Validity(m["valid_from"], m["valid_until"]),
        version=m["version"],
        status=Status(m["status"]),
        issued_at=as_utc(m["issued_at"]),
        version_at=as_utc(m["version_at"]),
        status_at=as_utc(m["status_at"]),
        status_reason=reason,
        salt=salt,
    )
    signed = SignedVersion(
        licence_id=m["licence_id"],
        key_id=m["key_id"],
        algorithm=m["algorithm"],
        signature=bytes(m["signature"]),
        content_sha256=m["content_sha256"],
    )
    return StoredLicence(lic, signed)


# ------------------------------------------------------------------------------------ events


def events_after(
    conn: Connection, cursor: int, type_codes: Sequence[str], limit: int, serial: str | None = None
) -> list[StoredEvent]:
    """Events with a cursor greater than ``cursor``, oldest first."""
    stmt = select(licence_events).where(licence_events.c.cursor > cursor)
    if type_codes:
        stmt = stmt.where(licence_events.c.type_code.in_(type_codes))
    if serial is not None:
        stmt = stmt.where(licence_events.c.serial == serial)
    rows = conn.execute(stmt.order_by(licence_events.c.cursor).limit(limit)).all()
    return [_event(r) for r in rows]


def _event(row: Row[Any]) -> StoredEvent:
    # A change or renewal may carry words without a code.
    has_reason = row.reason_code or row.reason_text
    reason = Reason(row.reason_code or "", row.reason_text or "") if has_reason else None
    event = Event(
        kind=EventKind(row.kind),
        version=row.version,
        at=as_utc(row.at),
        actor_code=row.actor_code,
        status_after=Status(row.status_after),
        reason=reason,
    )
    return StoredEvent(row.cursor, row.serial, row.type_code, row.issuer_code, event)


# ------------------------------------------------------------------------------- idempotency


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an idempotency key was first used for."""

    method: str
    request_sha256: str
    serial: str


def get_idempotency(conn: Connection, caller: str, key: str) -> IdempotencyRecord | None:
    """The record of ``key`` used by ``caller``, if any."""
    row = conn.execute(
        select(idempotency_keys).where(
            and_(idempotency_keys.c.caller_code == caller, idempotency_keys.c.key == key)
        )
    ).first()
    return IdempotencyRecord(row.method, row.request_sha256, row.serial) if row else None


def put_idempotency(
    conn: Connection, caller: str, records: Sequence[tuple[str, IdempotencyRecord]], at: datetime
) -> None:
    """Remember keys (the unique key makes a concurrent duplicate fail the transaction)."""
    if not records:
        return
    insert_rows(
        conn,
        idempotency_keys,
        [
            {
                "caller_code": caller,
                "key": key,
                "method": r.method,
                "request_sha256": r.request_sha256,
                "serial": r.serial,
                "created_at": at,
            }
            for key, r in records
        ],
    )


def get_idempotency_many(
    conn: Connection, caller: str, keys: Sequence[str]
) -> dict[str, IdempotencyRecord]:
    """Records for many keys at once (bulk import)."""
    rows = _matching(
        conn,
        idempotency_keys.c.key,
        keys,
        idempotency_keys.c.caller_code == caller,
        idempotency_keys.c.key,
        idempotency_keys.c.method,
        idempotency_keys.c.request_sha256,
        idempotency_keys.c.serial,
    )
    return {r.key: IdempotencyRecord(r.method, r.request_sha256, r.serial) for r in rows}


def existing_numbers(conn: Connection, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (type code, licence number) pairs are already taken."""
    found: set[tuple[str, str]] = set()
    by_type: dict[str, list[str]] = {}
    for type_code, number in pairs:
        by_type.setdefault(type_code, []).append(number)
    for type_code, numbers in by_type.items():
        rows = _matching(
            conn,
            licences.c.licence_number,
            numbers,
            licences.c.type_code == type_code,
            licences.c.licence_number,
        )
        found.update((type_code, n) for (n,) in rows)
    return found


def _matching(
    conn: Connection,
    key: ColumnElement[str],
    values: Sequence[str],
    scope: ColumnElement[bool],
    *columns: ColumnElement[Any],
) -> Sequence[Row[Any]]:
    """``columns`` of the rows where ``scope`` holds and ``key`` is one of ``values`` (an
    import batch's hundreds), the pair (scope column, key) being a unique index.

    On PostgreSQL each value is looked up in that index on its own (LATERAL ... LIMIT 1):
    an IN list of 500 parameters cost 60-150 ms per batch, and a prepared ``= ANY(array)``
    whose generic plan scanned every row of the type and compared it with every value grew
    to 300+ ms at 20,000 licences; 500 index probes take about 2 ms whatever the statistics.
    """
    if not values:
        return []
    if conn.dialect.name != "postgresql":
        return conn.execute(select(*columns).where(and_(scope, key.in_(values)))).all()
    wanted = (
        func.unnest(bindparam(None, list(values), type_=ARRAY(key.type)))
        .table_valued("value")
        .render_derived(name="wanted")
    )
    probe = select(*columns).where(and_(scope, key == wanted.c.value)).limit(1).lateral()
    return conn.execute(select(probe).select_from(wanted).join(probe, true())).all()
