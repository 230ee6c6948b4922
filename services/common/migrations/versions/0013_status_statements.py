"""signed status: each licence's chain of issuer-signed status statements

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Every existing licence gets its chain here, reconstructed from its events and versions and
signed *now* by its issuer's current key (each statement marked ``attested_at``, the instant
of this migration; the key is checked at that instant). Where the events do not make a legal
chain that ends in the licence's current row (a history the lifecycle could not have
produced), the licence gets a single ATTESTED statement of its current state instead.

What a migrated statement proves, and what not (docs/security.md): that the store's keys
attested this state and history at migration time — not that the history before was as
stored: whoever could edit the database before this migration could have edited what it
signed. Signing needs the departments' private keys, so on a database holding licences this
runs only with the master keys configured (``yihao db upgrade``, or the server's start).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BATCH = 1000
_log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    op.create_table(
        "licence_statements",
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["serial"],
            ["licences.serial"],
            name=op.f("fk_licence_statements_serial_licences"),
        ),
        sa.PrimaryKeyConstraint("serial", "sequence", name=op.f("pk_licence_statements")),
    )
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT 1 FROM licences LIMIT 1")).first() is not None:
        _build_chains(conn, _sealer())


def downgrade() -> None:
    op.drop_table("licence_statements")


def _sealer() -> Any:
    sealer = context.config.attributes.get("sealer")
    if sealer is None:
        raise RuntimeError(
            "migration 0013 signs each licence's status with its issuer's key: run it with "
            "the master keys configured (`yihao db upgrade`, or start the server)"
        )
    return sealer


def _build_chains(conn: sa.Connection, sealer: Any) -> None:
    now = datetime.now(UTC)
    keys = _signing_keys(conn, sealer)
    for serials in _serial_batches(conn):
        rows: list[dict[str, Any]] = []
        for chain in _chains(conn, serials, keys, now):
            rows.extend(
                {"serial": s.state.serial, "sequence": s.sequence, "body": s.body}
                | {"signature": s.signature}
                for s in chain
            )
        if not rows:
            continue
        conn.execute(
            sa.text(
                "INSERT INTO licence_statements (serial, sequence, body, signature) "
                "VALUES (:serial, :sequence, :body, :signature)"
            ),
            rows,
        )


def _signing_keys(conn: sa.Connection, sealer: Any) -> dict[str, Any]:
    """Each department's current signing key, unsealed."""
    from services.common.signing import SigningKey

    keys: dict[str, Any] = {}
    rows = conn.execute(
        sa.text(
            "SELECT key_id, department_code, algorithm, sealed_private_key "
            "FROM department_keys WHERE valid_until IS NULL ORDER BY valid_from"
        )
    )
    for key_id, department, algorithm, sealed in rows:
        raw = sealer.open(bytes(sealed), aad=key_id.encode())
        keys[department] = SigningKey.from_private_bytes(key_id, raw, algorithm)
    return keys


def _serial_batches(conn: sa.Connection) -> Iterator[list[str]]:
    after = ""
    while True:
        serials = list(
            conn.execute(
                sa.text(
                    "SELECT serial FROM licences WHERE serial > :after ORDER BY serial LIMIT :n"
                ),
                {"after": after, "n": BATCH},
            ).scalars()
        )
        if not serials:
            return
        yield serials
        after = serials[-1]


def _chains(
    conn: sa.Connection, serials: list[str], keys: dict[str, Any], now: datetime
) -> Iterator[list[Any]]:
    """The chain of each licence in ``serials``."""
    from services.licence_store.domain.licence import Status, Validity
    from services.licence_store.domain.statements import LicenceState

    bind = {"serials": serials}
    in_batch: Any = sa.bindparam("serials", expanding=True)
    licences = conn.execute(
        sa.text(
            "SELECT serial, type_code, issuer_code, current_version, status FROM licences "
            "WHERE serial IN :serials"
        ).bindparams(in_batch),
        bind,
    ).all()
    versions: dict[tuple[str, int], tuple[str, Validity]] = {}
    for serial, version, digest, start, end in conn.execute(
        sa.text(
            "SELECT serial, version, content_sha256, valid_from, valid_until "
            "FROM licence_versions WHERE serial IN :serials"
        ).bindparams(in_batch),
        bind,
    ):
        versions[(serial, version)] = (digest, Validity(_day(start), _day(end) if end else None))
    events: dict[str, list[Any]] = {}
    for row in conn.execute(
        sa.text(
            'SELECT serial, kind, version, status_after, reason_code, "at" '
            'FROM licence_events WHERE serial IN :serials ORDER BY "cursor"'
        ).bindparams(in_batch),
        bind,
    ):
        events.setdefault(row.serial, []).append(row)
    for serial, type_code, issuer, current, status in licences:
        key = keys.get(issuer)
        if key is None:  # its versions cannot verify either: its verdicts stay CANNOT_CHECK
            _log.warning("licence %s: issuer %s has no signing key, no chain", serial, issuer)
            continue
        digest, validity = versions[(serial, current)]
        now_state = LicenceState(
            type_code, issuer, serial, current, digest, Status(status), validity
        )
        yield _from_events(events.get(serial, []), versions, now_state, key, now)


def _from_events(
    events: list[Any],
    versions: dict[tuple[str, int], tuple[str, Any]],
    current: Any,
    key: Any,
    now: datetime,
) -> list[Any]:
    """The licence's history as statements re-signed now, or (when the events do not make a
    legal chain ending in the current state) one ATTESTED statement of the current state."""
    from services.licence_store.domain.licence import Status
    from services.licence_store.domain.statements import (
        Act,
        LicenceState,
        StatusStatement,
        legal_transition,
    )

    chain: list[Any] = []
    for e in events:
        found = versions.get((current.serial, e.version))
        if found is None:
            break
        state = LicenceState(
            current.type_code,
            current.issuer_code,
            current.serial,
            e.version,
            found[0],
            Status(e.status_after),
            found[1],
        )
        previous = chain[-1] if chain else None
        draft = StatusStatement.draft(
            previous, state, Act(e.kind), _instant(e.at), e.reason_code or "", attested_at=now
        )
        if not legal_transition(previous, draft):
            break
        chain.append(draft.signed(key))
    else:
        if chain and chain[-1].state == current:
            return chain
    return [StatusStatement.draft(None, current, Act.ATTESTED, now).signed(key)]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _instant(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
