"""Storing and reading licences' status statements (the signed chain of lifecycle acts).

A statement is stored as the exact bytes that were signed; the ``sequence`` column only
orders and keys the rows (the sequence that counts is the one inside the signed body).
Functions take the unit of work's connection and never commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from services.common.bulk_insert import insert_rows
from services.licence_store.domain.statements import Link, StatusStatement
from services.licence_store.persistence.tables import department_keys, licence_statements

#: A stored statement: (body, signature), the signed bytes and the signature over them.
StoredStatement = tuple[bytes, bytes]


def insert_statements(conn: Connection, statements: Sequence[StatusStatement]) -> None:
    """Store signed statements (a duplicate (serial, sequence) fails the transaction: two
    writers cannot both extend a chain from the same statement)."""
    insert_rows(
        conn,
        licence_statements,
        [
            {
                "serial": s.state.serial,
                "sequence": s.sequence,
                "body": s.body,
                "signature": s.signature,
            }
            for s in statements
        ],
    )


def chain_of(conn: Connection, serial: str) -> list[StoredStatement]:
    """Every statement of a licence as stored, in sequence order."""
    rows = conn.execute(
        select(licence_statements.c.body, licence_statements.c.signature)
        .where(licence_statements.c.serial == serial)
        .order_by(licence_statements.c.sequence)
    )
    return [(bytes(body), bytes(signature)) for body, signature in rows]


def chains_of(conn: Connection, serials: Iterable[str]) -> dict[str, list[StoredStatement]]:
    """:func:`chain_of` for many licences in one query."""
    wanted = sorted(set(serials))
    out: dict[str, list[StoredStatement]] = {s: [] for s in wanted}
    if not wanted:
        return out
    rows = conn.execute(
        select(
            licence_statements.c.serial,
            licence_statements.c.body,
            licence_statements.c.signature,
        )
        .where(licence_statements.c.serial.in_(wanted))
        .order_by(licence_statements.c.serial, licence_statements.c.sequence)
    )
    for serial, body, signature in rows:
        out[serial].append((bytes(body), bytes(signature)))
    return out


def head_link(conn: Connection, serial: str) -> Link | None:
    """Where a licence's chain stands as stored (its newest row's sequence and the digest of
    its bytes, parsed or not), for a writer extending it inside the transaction that holds
    the licence row: an act is recorded even after the chain was tampered with (a verdict on
    a broken chain is CANNOT_CHECK, never the act undone)."""
    row = conn.execute(
        select(licence_statements.c.sequence, licence_statements.c.body)
        .where(licence_statements.c.serial == serial)
        .order_by(licence_statements.c.sequence.desc())
        .limit(1)
    ).first()
    return Link(row.sequence, hashlib.sha256(bytes(row.body)).hexdigest()) if row else None


def sealed_private_key(conn: Connection, key_id: str) -> bytes | None:
    """The sealed private half stored with a signing key (to vouch for its public half)."""
    sealed = conn.execute(
        select(department_keys.c.sealed_private_key).where(department_keys.c.key_id == key_id)
    ).scalar()
    return bytes(sealed) if sealed is not None else None
