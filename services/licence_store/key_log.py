"""Departments' key marks in the tamper-evident log: validity and compromise, not a column alone.

A signing key's marks — when it became valid, when it stopped (rotation), from when it is
compromised — decide which signatures are trusted, and they are columns a database-only
attacker could edit (clear a compromise mark, and a stolen key's later signatures verify
again). So every change of a key's marks appends a log entry (kind ``key_marks``, ref
``key:<key id>``) committing to the key's whole state, in the same transaction as the change
(a new key has no marks and no entry until its first), and a key is trusted only when its
stored state is the one its newest entry commits to, or it has neither marks nor entry: the
two are read in one statement (one snapshot), when the key is loaded (every few seconds at
most). A mark edited behind the log makes the key untrusted (its signatures ``CANNOT_CHECK``)
and an ``ERROR`` line; deleting the key's newer entries to match takes log entries a signed
head kept outside the database covers (services.common.trusted_head: the server refuses), and
``yihao audit verify`` names either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from services.common import audit_log
from services.common.canonical import canonical_json, sha256_hex
from services.common.evidence import Entry
from services.common.log_tables import audit_leaves
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.persistence.catalogue import key_of_row
from services.licence_store.persistence.tables import department_keys

KIND = "key_marks"


def key_ref(key_id: str) -> str:
    """The log reference of a key's marks."""
    return f"key:{key_id}"


def marks_sha256(key: SigningKeyRecord) -> str:
    """The hash a key's log entry commits to: its whole state, marks included."""

    def at(value: datetime | None) -> str:
        return value.isoformat() if value is not None else ""

    return sha256_hex(
        canonical_json(
            {
                "key_id": key.key_id,
                "department": key.department_code,
                "algorithm": key.algorithm,
                "public_key": key.public_key.hex(),
                "valid_from": at(key.valid_from),
                "valid_until": at(key.valid_until),
                "compromised_at": at(key.compromised_at),
            },
            plain=True,
        )
    )


def key_entry(key: SigningKeyRecord) -> Entry:
    """The log entry for a key's current marks."""
    return Entry(KIND, key_ref(key.key_id), marks_sha256(key))


def logged_marks(conn: Connection, key_id: str) -> str | None:
    """The hash the newest log entry of ``key_id``'s marks commits to (None: none)."""
    row = conn.execute(
        select(audit_leaves.c.payload_sha256)
        .where(audit_leaves.c.ref == key_ref(key_id), audit_leaves.c.kind == KIND)
        .order_by(audit_leaves.c.idx.desc())
        .limit(1)
    ).first()
    return None if row is None else str(row.payload_sha256)


def read_key(conn: Connection, key_id: str) -> tuple[SigningKeyRecord | None, str | None]:
    """A key and the hash its newest log entry commits to, in one statement (one snapshot:
    a mark and its entry are committed together)."""
    newest = (
        select(audit_leaves.c.payload_sha256)
        .where(audit_leaves.c.ref == key_ref(key_id), audit_leaves.c.kind == KIND)
        .order_by(audit_leaves.c.idx.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = conn.execute(
        select(department_keys, newest.label("logged_marks")).where(
            department_keys.c.key_id == key_id
        )
    ).first()
    if row is None:
        return None, None
    return key_of_row(row), row.logged_marks


def has_marks(key: SigningKeyRecord) -> bool:
    """Whether a key was ever retired or marked compromised (a new key has no marks)."""
    return key.valid_until is not None or key.compromised_at is not None


def trusted(key: SigningKeyRecord, logged: str | None) -> bool:
    """Whether a key's stored state may be trusted: the one its newest entry commits to, or,
    with no entry, a key never marked (a key is logged from its first mark on)."""
    if logged is None:
        return not has_marks(key)
    return logged == marks_sha256(key)


def log_key_marks(conn: Connection, keys: Iterable[SigningKeyRecord], at: datetime) -> None:
    """Append an entry for every key whose marks changed since its newest entry (in the
    caller's transaction, which changed them); a key never marked needs none yet."""
    entries = []
    for key in keys:
        logged = logged_marks(conn, key.key_id)
        if logged != marks_sha256(key) and (logged is not None or has_marks(key)):
            entries.append(key_entry(key))
    audit_log.append(conn, entries, at)
