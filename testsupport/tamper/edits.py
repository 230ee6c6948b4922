"""The edits of the tamper matrix: what someone who can write the database (but holds neither
the master keys nor a department's private key) can do to the rows a verdict is read from.

Each edit works on one case's licence in one transaction and returns whether it applies to
that case (an edit that needs an older version, say, does not apply to a licence that never
had one). Edits are careful: where the attacker can make the rows agree with each other
(status column with the edited statement, rows set back with deleted statements), they do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from services.common.canonical import canonical_json
from services.common.signing import SigningKey
from services.licence_store.domain.statements import StatusStatement
from testsupport.tamper.cases import LICENCE_TABLES, Case, table

Edit = Callable[[Connection, Case], bool]

STATEMENTS, EVENTS, VERSIONS, LICENCES = (table(n) for n in LICENCE_TABLES)


def _other_status(current: str) -> str:
    """The status an attacker writes: active for a withdrawn licence, revoked for a good one."""
    return "revoked" if current == "active" else "active"


def _status(conn: Connection, serial: str) -> str:
    return str(conn.execute(select(LICENCES.c.status).where(LICENCES.c.serial == serial)).scalar())


def _set_licence(conn: Connection, serial: str, **values: Any) -> None:
    conn.execute(update(LICENCES).where(LICENCES.c.serial == serial).values(**values))


def _newest(conn: Connection, t: Any, serial: str, column: str) -> Any:
    return conn.execute(select(func.max(t.c[column])).where(t.c.serial == serial)).scalar()


def status_column(conn: Connection, case: Case) -> bool:
    """licences.status set to another status."""
    _set_licence(conn, case.serial, status=_other_status(_status(conn, case.serial)))
    return True


def current_version_back(conn: Connection, case: Case) -> bool:
    """licences.current_version set to the previous version."""
    if case.version < 2:
        return False
    _set_licence(conn, case.serial, current_version=case.version - 1)
    return True


def validity_column(conn: Connection, case: Case) -> bool:
    """licence_versions.valid_until of the current version moved to 2099."""
    conn.execute(
        update(VERSIONS)
        .where((VERSIONS.c.serial == case.serial) & (VERSIONS.c.version == case.version))
        .values(valid_until=date(2099, 12, 31))
    )
    return True


def newest_version_deleted(conn: Connection, case: Case) -> bool:
    """The newest licence_versions row deleted and current_version set back to the one before."""
    if case.version < 2:
        return False
    conn.execute(
        delete(VERSIONS).where(
            (VERSIONS.c.serial == case.serial) & (VERSIONS.c.version == case.version)
        )
    )
    _set_licence(conn, case.serial, current_version=case.version - 1)
    return True


def _statement(conn: Connection, serial: str, sequence: int) -> tuple[bytes, bytes]:
    row = conn.execute(
        select(STATEMENTS.c.body, STATEMENTS.c.signature).where(
            (STATEMENTS.c.serial == serial) & (STATEMENTS.c.sequence == sequence)
        )
    ).one()
    return bytes(row.body), bytes(row.signature)


def statement_edited(conn: Connection, case: Case) -> bool:
    """The newest statement's status rewritten (still canonical JSON, its signature kept) and
    licences.status made to agree."""
    sequence = _newest(conn, STATEMENTS, case.serial, "sequence")
    body, _signature = _statement(conn, case.serial, sequence)
    value = json.loads(body)
    value["status"] = _other_status(value["status"])
    conn.execute(
        update(STATEMENTS)
        .where((STATEMENTS.c.serial == case.serial) & (STATEMENTS.c.sequence == sequence))
        .values(body=canonical_json(value))
    )
    _set_licence(conn, case.serial, status=value["status"])
    return True


def newest_statement_deleted(conn: Connection, case: Case) -> bool:
    """The newest statement deleted with the newest event (and the newest version, if that act
    made one), and the licences row set back to the state the statement before attests."""
    sequence = _newest(conn, STATEMENTS, case.serial, "sequence")
    conn.execute(
        delete(STATEMENTS).where(
            (STATEMENTS.c.serial == case.serial) & (STATEMENTS.c.sequence == sequence)
        )
    )
    cursor = _newest(conn, EVENTS, case.serial, "cursor")
    conn.execute(delete(EVENTS).where(EVENTS.c.cursor == cursor))
    if sequence < 2:
        return True
    before = StatusStatement.parse(*_statement(conn, case.serial, sequence - 1))
    assert before is not None
    if before.state.version < case.version:
        conn.execute(
            delete(VERSIONS).where(
                (VERSIONS.c.serial == case.serial) & (VERSIONS.c.version == case.version)
            )
        )
    _set_licence(
        conn,
        case.serial,
        status=before.state.status.value,
        current_version=before.state.version,
        status_reason_code=before.reason_code or None,
    )
    return True


def older_copy_reinserted(conn: Connection, case: Case) -> bool:
    """Every row of the licence replaced by the copy taken before the issuer's last act."""
    if not case.before_last_act:
        return False
    for name in LICENCE_TABLES:
        t = table(name)
        conn.execute(delete(t).where(t.c.serial == case.serial))
    for name in reversed(LICENCE_TABLES):
        if case.before_last_act[name]:
            conn.execute(table(name).insert(), case.before_last_act[name])
    return True


def swapped_with_another(conn: Connection, case: Case) -> bool:
    """The status statements and status column swapped with another licence's (of the same
    type and issuer, in another state)."""
    other = case.sibling
    assert other is not None
    mine, theirs = (
        [dict(r._mapping) for r in conn.execute(select(STATEMENTS).where(STATEMENTS.c.serial == s))]
        for s in (case.serial, other.serial)
    )
    statuses = _status(conn, case.serial), _status(conn, other.serial)
    conn.execute(delete(STATEMENTS).where(STATEMENTS.c.serial.in_([case.serial, other.serial])))
    moved = [{**r, "serial": other.serial} for r in mine]
    moved += [{**r, "serial": case.serial} for r in theirs]
    conn.execute(STATEMENTS.insert(), moved)
    _set_licence(conn, case.serial, status=statuses[1])
    _set_licence(conn, other.serial, status=statuses[0])
    return True


def newest_event_deleted(conn: Connection, case: Case) -> bool:
    """The newest licence_events row deleted (events no longer feed verdicts)."""
    cursor = _newest(conn, EVENTS, case.serial, "cursor")
    conn.execute(delete(EVENTS).where(EVENTS.c.cursor == cursor))
    return True


def key_replaced(attacker: SigningKey) -> Edit:
    """The issuer's public key replaced by the attacker's, the newest statement re-signed with
    it (status rewritten) and licences.status made to agree."""
    keys = table("department_keys")

    def edit(conn: Connection, case: Case) -> bool:
        sequence = _newest(conn, STATEMENTS, case.serial, "sequence")
        newest = StatusStatement.parse(*_statement(conn, case.serial, sequence))
        assert newest is not None
        conn.execute(
            update(keys)
            .where(keys.c.key_id == newest.key_id)
            .values(public_key=attacker.public().public_key)
        )
        forged_state = newest.state.__class__(
            **{**_fields(newest.state), "status": _flip(newest.state.status)}
        )
        forged = StatusStatement(
            forged_state, newest.act, newest.sequence, newest.reason_code, newest.at,
            newest.prev_sha256, newest.attested_at,
        ).signed(_named(attacker, newest.key_id))  # fmt: skip
        conn.execute(
            update(STATEMENTS)
            .where((STATEMENTS.c.serial == case.serial) & (STATEMENTS.c.sequence == sequence))
            .values(body=forged.body, signature=forged.signature)
        )
        _set_licence(conn, case.serial, status=forged_state.status.value)
        return True

    return edit


def _fields(state: Any) -> dict[str, Any]:
    # The dataclass's fields, not __slots__ (a compiled class has none).
    return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}


def _flip(status: Any) -> Any:
    return type(status)(_other_status(status.value))


def _named(key: SigningKey, key_id: str) -> SigningKey:
    """The attacker's key presented under the department's key id."""
    return SigningKey.from_private_bytes(key_id, key.private_bytes(), key.algorithm)


#: The per-licence edits, by the name the matrix prints (table: what was done).
EDITS: dict[str, Edit] = {
    "licences.status updated": status_column,
    "licences.current_version set back": current_version_back,
    "licence_versions.valid_until updated": validity_column,
    "licence_versions newest deleted + row set back": newest_version_deleted,
    "licence_statements newest body edited": statement_edited,
    "licence_statements newest deleted + rows set back": newest_statement_deleted,
    "all rows: older copy re-inserted": older_copy_reinserted,
    "licence_statements swapped with another licence": swapped_with_another,
    "licence_events newest deleted": newest_event_deleted,
}
