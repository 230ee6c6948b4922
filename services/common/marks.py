"""Marks that background jobs leave in the database: how far a job got, so that the next
process start does not redo work that is already done (e.g. a re-seal under the current key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Connection, DateTime, String, Table, select, update

from services.common.bulk_insert import insert_rows
from services.common.database import metadata

maintenance_marks = Table(
    "maintenance_marks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


def get_mark(conn: Connection, name: str) -> str | None:
    """The value of mark ``name``, if it was ever set."""
    return conn.execute(
        select(maintenance_marks.c.value).where(maintenance_marks.c.name == name)
    ).scalar_one_or_none()


def set_mark(conn: Connection, name: str, value: str, at: datetime) -> None:
    """Set mark ``name`` to ``value`` (in the caller's transaction)."""
    changed = conn.execute(
        update(maintenance_marks).where(maintenance_marks.c.name == name).values(value=value, at=at)
    ).rowcount
    if not changed:
        insert_rows(conn, maintenance_marks, [{"name": name, "value": value, "at": at}])
