"""The access record — "who used my data" (谁用了我的数据).

Every read of a holder's data, through verification, assistance or store queries, leaves a
record: which department, through which channel, for what purpose and case, what was read,
when. Records are written in the same transaction as the answer's own record where there is
one (a verification receipt, an assistance decision), otherwise through a group commit, so
an answer is never sent without its access record being durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    select,
)

from services.common.clock import as_utc
from services.common.database import Database, insert_many, metadata
from services.common.group_commit import GroupCommitter
from services.common.metrics import NO_METRICS, Metrics

access_records = Table(
    "access_records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("holder_key", String(64), nullable=False),  # the holder's blind index, not the number
    Column("department_code", String(18), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("case_number", String(64), nullable=False),
    Column("what", String(500), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_access_records_holder", "holder_key", "id"),
)


@dataclass(frozen=True)
class AccessRecord:
    """One read of one holder's data (the holder by blind index)."""

    holder_key: str
    department_code: str
    channel: str
    what: str
    at: datetime
    purpose: str = ""
    case_number: str = ""
    record_id: int = 0


#: An access record as a plain row, in column order: holder_key, department_code, channel,
#: purpose, case_number, what, at (the batch path makes one per item; no object each).
AccessRow = tuple[str, str, str, str, str, str, datetime]

_COLUMNS = ("holder_key", "department_code", "channel", "purpose", "case_number", "what", "at")


def insert_records(conn: Connection, records: Sequence[AccessRecord]) -> None:
    """Store access records (inside the caller's unit of work)."""
    insert_rows(
        conn,
        [
            (r.holder_key, r.department_code, r.channel, r.purpose, r.case_number, r.what, r.at)
            for r in records
        ],
    )


def insert_rows(conn: Connection, rows: Sequence[AccessRow]) -> None:
    """Store access records given as :data:`AccessRow` (on the driver: batch verification
    writes thousands a second)."""
    insert_many(
        conn,
        access_records,
        _COLUMNS,
        [(h, d, c, p[:200], n[:64], w[:500], at) for h, d, c, p, n, w, at in rows],
    )


def records_of(conn: Connection, holder_key: str, before_id: int, limit: int) -> list[AccessRecord]:
    """A holder's access records, newest first, with ids below ``before_id`` (0 = newest)."""
    stmt = select(access_records).where(access_records.c.holder_key == holder_key)
    if before_id:
        stmt = stmt.where(access_records.c.id < before_id)
    rows = conn.execute(stmt.order_by(access_records.c.id.desc()).limit(limit)).all()
    return [
        AccessRecord(
            holder_key=r.holder_key,
            department_code=r.department_code,
            channel=r.channel,
            what=r.what,
            at=as_utc(r.at),
            purpose=r.purpose,
            case_number=r.case_number,
            record_id=r.id,
        )
        for r in rows
    ]


class AccessLog:
    """Writes access records durably (group commit) where no other record carries them."""

    def __init__(self, db: Database, metrics: Metrics = NO_METRICS) -> None:
        self._committer: GroupCommitter[list[AccessRecord]] = GroupCommitter(
            db,
            lambda conn, batches: insert_records(conn, [r for b in batches for r in b]),
            name="access-log",
            metrics=metrics,
        )

    def record(self, records: Sequence[AccessRecord]) -> None:
        """Make ``records`` durable before returning."""
        if records:
            self._committer.submit(list(records))

    def close(self) -> None:
        """Flush and stop."""
        self._committer.close()
