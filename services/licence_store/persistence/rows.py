"""The verifier's hot read: licence rows exactly as stored, many per query, on the raw driver.

SQLAlchemy Core costs more per row than the query itself (result processing parses every
date and JSON column); a batch verification needs only the row, and mostly only to tell
whether it is byte-for-byte the row it has already checked. So this reads with the DB-API
cursor of a pooled connection, one statement per read, and hands back
plain tuples: :data:`CONTENT` columns (the signed version and the sealed holder, which make
the version's fingerprint the verifier's memo compares), :data:`STATE` columns (status) and
the licence's newest status statement. (On SQLite the reader keeps the rows it read until
the store's change log says one changed: ``services.licence_store.current_rows``.)

:func:`stored_current` turns a row into the domain's :class:`StoredLicence` (the slow path, taken
once per version per process): the same values SQLAlchemy would have produced.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, NamedTuple

from services.common.clock import as_utc
from services.common.database import check_deadline
from services.licence_store.domain.licence import Status, Validity
from services.licence_store.domain.reading import CurrentLicence, VersionFingerprint
from services.licence_store.domain.statements import LicenceState
from services.licence_store.domain.stored import StoredLicence
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.persistence.repository import stored_from_mapping

#: Columns of the signed version and the sealed holder: what integrity depends on.
CONTENT: Final = (
    "l.type_code",
    "l.issuer_code",
    "l.licence_number",
    "l.holder_kind",
    "l.holder_sealed",
    "v.version",
    "v.licence_id",
    "v.holder_name",
    "v.fields",
    "v.sealed_fields",
    "v.valid_from",
    "v.valid_until",
    "v.version_at",
    "v.key_id",
    "v.algorithm",
    "v.signature",
    "v.content_sha256",
)
#: Columns of the licence's current state (never remembered by the verifier).
STATE: Final = (
    "l.status",
    "l.status_reason_code",
    "l.status_reason_text",
    "l.status_at",
    "l.issued_at",
)

_KEY_ID: Final = 6 + CONTENT.index("v.key_id")  # in a row as fetched: serial, STATE, CONTENT, head
_CONTENT_END: Final = 6 + len(CONTENT)
_AT: Final = {c: 6 + CONTENT.index(c) for c in CONTENT}
_STATUSES: Final = {s.value: s for s in Status}

#: Text columns that hold more than ASCII, read as bytes on SQLite (decoding them into str
#: is most of the cost of fetching a row; the memo only compares them).
_AS_BYTES: Final = ("v.holder_name", "v.fields")


def _select(content: Iterable[str]) -> str:
    # The newest status statement comes with the row (last two columns): the reader compares
    # it with the one it verified last (one more index probe; the chain is read only when it
    # differs).
    return (
        f"SELECT l.serial, {', '.join(STATE)}, {', '.join(content)}, s.body, s.signature "
        "FROM licences l JOIN licence_versions v "
        "ON v.serial = l.serial AND v.version = l.current_version "
        "LEFT JOIN licence_statements s ON s.serial = l.serial AND s.sequence = "
        "(SELECT max(m.sequence) FROM licence_statements m WHERE m.serial = l.serial) "
    )


# One statement text whatever the number of serials (the driver keeps it prepared).
_BY_SERIALS: Final = {
    "sqlite": _select(f"CAST({c} AS BLOB)" if c in _AS_BYTES else c for c in CONTENT)
    + "WHERE l.serial IN (SELECT value FROM json_each(?))",
    "postgresql": _select(CONTENT) + "WHERE l.serial = ANY(%s)",
}
_BY_NUMBERS: Final = {
    "sqlite": "SELECT licence_number, serial FROM licences "
    "WHERE type_code = ? AND licence_number IN (SELECT value FROM json_each(?))",
    "postgresql": "SELECT licence_number, serial FROM licences "
    "WHERE type_code = %s AND licence_number = ANY(%s)",
}


_CHAINS: Final = {
    "sqlite": "SELECT serial, body, signature FROM licence_statements "
    "WHERE serial IN (SELECT value FROM json_each(?)) ORDER BY serial, sequence",
    "postgresql": "SELECT serial, body, signature FROM licence_statements "
    "WHERE serial = ANY(%s) ORDER BY serial, sequence",
}


class LicenceRow(NamedTuple):
    """One licence at its current version, as stored."""

    serial: str
    status: str
    status_reason_code: str | None
    status_reason_text: str | None
    status_at: Any
    issued_at: Any
    content: tuple[Any, ...]  # the CONTENT columns, in order

    @property
    def key_id(self) -> str:
        """The id of the key that signed the version."""
        return str(self.content[_KEY_ID - 6])


class DriverReads:
    """The hot reads, on a DB-API connection (see ``Database.driver_reads``): each one
    statement, so each reads one consistent snapshot without a transaction around it."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._connection = connection
        self._dialect = dialect

    def _fetch(self, statement: dict[str, str], *params: Any) -> list[Any]:
        check_deadline()
        cursor = self._connection.cursor()
        try:
            cursor.execute(statement[self._dialect], params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _list(self, values: Sequence[str]) -> Any:
        return json.dumps(list(values)) if self._dialect == "sqlite" else list(values)

    def current(self, serials: Sequence[str]) -> dict[str, CurrentLicence]:
        """:meth:`rows` as the reader answers them: state, key id, a fingerprint of the
        content columns, and the row itself to open later (:func:`stored_current`)."""
        if not serials:
            return {}
        found = self._fetch(_BY_SERIALS, self._list(serials))
        out = {}
        for r in found:
            content = tuple(r[6:_CONTENT_END])
            status = _STATUSES.get(r[1]) or Status(r[1])
            fingerprint = VersionFingerprint(content)
            out[r[0]] = CurrentLicence(r[0], status, r[2] or "", r[_KEY_ID], fingerprint, r)
        return out

    def chains(self, serials: Sequence[str]) -> dict[str, list[tuple[bytes, bytes]]]:
        """Each licence's status statements as stored, (body, signature) in sequence order, in
        one statement (``statements.chains_of`` on the raw driver; [] for none)."""
        out: dict[str, list[tuple[bytes, bytes]]] = {s: [] for s in serials}
        if serials:
            for serial, body, signature in self._fetch(_CHAINS, self._list(serials)):
                out[serial].append((bytes(body), bytes(signature)))
        return out

    def serials_by_number(self, type_code: str, numbers: Sequence[str]) -> dict[str, str]:
        """licence number → serial, for the numbers of ``type_code`` that are issued."""
        if not numbers:
            return {}
        found = self._fetch(_BY_NUMBERS, type_code, self._list(numbers))
        return {number: serial for number, serial in found}


def _instant(value: Any) -> datetime:
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def stored_current(current: CurrentLicence, codec: LicenceCodec) -> StoredLicence:
    """The domain object behind a :meth:`DriverReads.current` answer."""
    r: Any = current.handle
    return stored(LicenceRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6:_CONTENT_END])), codec)


def head_of(current: CurrentLicence) -> tuple[bytes, bytes] | None:
    """The newest status statement read with a :meth:`DriverReads.current` row."""
    r: Any = current.handle
    body, signature = r[_CONTENT_END], r[_CONTENT_END + 1]
    return None if body is None else (bytes(body), bytes(signature))


_CLAIMED: Final = operator.itemgetter(
    0,
    1,
    _AT["l.type_code"],
    _AT["l.issuer_code"],
    _AT["v.version"],
    _AT["v.content_sha256"],
    _AT["v.valid_from"],
    _AT["v.valid_until"],
)


def claim_key(current: CurrentLicence) -> tuple[Any, ...]:
    """The row values :func:`claimed_of` reads, as stored (equal keys: equal claims)."""
    r: Any = current.handle
    key: tuple[Any, ...] = _CLAIMED(r)
    return key


def claimed_of(current: CurrentLicence) -> LicenceState:
    """The state a :meth:`DriverReads.current` row claims (before anything is checked)."""
    r: Any = current.handle
    until = _day(r[_AT["v.valid_until"]])
    return LicenceState(
        r[_AT["l.type_code"]],
        r[_AT["l.issuer_code"]],
        r[0],
        r[_AT["v.version"]],
        r[_AT["v.content_sha256"]],
        current.status,
        Validity(_day(r[_AT["v.valid_from"]]) or date.min, until),
    )


def stored(row: LicenceRow, codec: LicenceCodec) -> StoredLicence:
    """The domain object for a row (values typed as SQLAlchemy would type them)."""
    content = dict(zip((c[2:] for c in CONTENT), row.content, strict=True))
    mapping: Mapping[str, Any] = {
        **content,
        "serial": row.serial,
        "status": row.status,
        "status_reason_code": row.status_reason_code,
        "status_reason_text": row.status_reason_text,
        "status_at": _instant(row.status_at),
        "issued_at": _instant(row.issued_at),
        "version_at": _instant(content["version_at"]),
        "valid_from": _day(content["valid_from"]),
        "valid_until": _day(content["valid_until"]),
        "fields": _json(content["fields"]),
        "holder_name": _text(content["holder_name"]),
    }
    return stored_from_mapping(mapping, codec)
