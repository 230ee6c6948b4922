"""The verifier's repository: receipts, its own keys, service items. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from services.common.bulk_insert import insert_many
from services.common.clock import as_utc
from services.common.database import duplicates_raise
from services.common.errors import AlreadyExists
from services.verifier.domain.receipt import Receipt
from services.verifier.domain.verdict import Verdict
from services.verifier.persistence.tables import receipts, service_items, service_keys

_RECEIPT_COLUMNS = (
    "receipt_id",
    "issued_at",
    "requester_code",
    "verdict",
    "licence_id",
    "content_sha256",
    "body",
    "key_id",
    "algorithm",
    "signature",
    "staff",
)


def insert_receipts(conn: Connection, batch: Sequence[Receipt]) -> None:
    """Store receipts (the group committer calls this)."""
    insert_many(
        conn,
        receipts,
        _RECEIPT_COLUMNS,
        [
            (
                r.receipt_id,
                r.issued_at,
                r.requester_code,
                r.verdict.value if r.verdict else None,
                r.licence_id,
                r.content_sha256,
                r.body,
                r.key_id,
                r.algorithm,
                r.signature,
                r.staff,
            )
            for r in batch
        ],
        utf8=("body",),
    )


def get_receipt(conn: Connection, receipt_id: str) -> Receipt | None:
    """A receipt by id."""
    row = conn.execute(select(receipts).where(receipts.c.receipt_id == receipt_id)).first()
    if row is None:
        return None
    return Receipt(
        receipt_id=row.receipt_id,
        issued_at=as_utc(row.issued_at),
        requester_code=row.requester_code,
        verdict=Verdict(row.verdict) if row.verdict else None,
        licence_id=row.licence_id,
        content_sha256=row.content_sha256,
        body=row.body.encode(),
        key_id=row.key_id,
        algorithm=row.algorithm,
        signature=bytes(row.signature),
        staff=row.staff,
    )


def current_service_key(conn: Connection, purpose: str) -> Any:
    """The current key row for ``purpose`` (or None)."""
    return conn.execute(
        select(service_keys)
        .where(service_keys.c.purpose == purpose, service_keys.c.valid_until.is_(None))
        .order_by(service_keys.c.valid_from.desc())
    ).first()


def service_key(conn: Connection, key_id: str) -> Any:
    """A key row by id (or None)."""
    return conn.execute(select(service_keys).where(service_keys.c.key_id == key_id)).first()


def all_service_keys(conn: Connection, purpose: str) -> list[Any]:
    """Every key for ``purpose``, newest first."""
    return list(
        conn.execute(
            select(service_keys)
            .where(service_keys.c.purpose == purpose)
            .order_by(service_keys.c.valid_from.desc())
        )
    )


def add_service_key(conn: Connection, values: dict[str, object], at: datetime) -> None:
    """Retire the purpose's current key and store a new one."""
    conn.execute(
        update(service_keys)
        .where(service_keys.c.purpose == values["purpose"], service_keys.c.valid_until.is_(None))
        .values(valid_until=at)
    )
    with duplicates_raise(_key_exists):
        conn.execute(insert(service_keys).values(**values))


def _key_exists() -> AlreadyExists:
    return AlreadyExists("a service key was stored concurrently", reason="SERVICE_KEY_EXISTS")


def save_service_item(
    conn: Connection, code: str, name: str, materials: list[dict[str, Any]], at: datetime
) -> None:
    """Insert or replace a service item."""
    values = {"name": name, "materials": materials, "updated_at": at}
    done = conn.execute(update(service_items).where(service_items.c.code == code).values(values))
    if done.rowcount == 0:
        conn.execute(insert(service_items).values(code=code, **values))


def list_service_items(conn: Connection) -> list[Any]:
    """Every service item, by code."""
    return list(conn.execute(select(service_items).order_by(service_items.c.code)))
