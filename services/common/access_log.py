"""The access record — "who used my data" (谁用了我的数据).

Every read of a holder's data, through verification, assistance or store queries, leaves a
record: which department, through which channel, for what purpose and case, what was read,
when. Records are written in the same transaction as the answer's own record where there is
one (a verification receipt, an assistance decision), otherwise through a group commit, so
an answer is never sent without its access record being durable.

The records are in the tamper-evident log, a batch at a time: every write (one group commit
of verifications, one decision, one store query) stamps its rows with a batch id and appends
one leaf committing to the batch — its id and the SHA-256 of its rows in order
(:func:`batch_digest`) — in the same transaction. A deleted or edited record changes its
batch's digest, so ``yihao audit verify`` names the batch's log entry; a record written
behind the log's back has a batch no leaf names. One leaf per batch, not per record, keeps
the hot path's cost to a digest and one more row in a transaction it already makes. Records
made before the log covered them (batch NULL) are covered by one leaf migration 0010 made.
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

from services.common import audit_log
from services.common.access_rows import (
    CASE_NUMBER_WIDTH,
    PURPOSE_WIDTH,
    WHAT_WIDTH,
    AccessRow,
    batch_digest,
    holder_tag,
    row_line,
    stage,
)
from services.common.bulk_insert import insert_many
from services.common.clock import as_utc
from services.common.database import Database, metadata
from services.common.evidence import Entry
from services.common.group_commit import GroupCommitter
from services.common.ids import time_ordered_id
from services.common.metrics import NO_METRICS, Metrics

__all__ = [
    "KIND",
    "LEGACY_BATCH",
    "ROW_COLUMNS",
    "AccessLog",
    "AccessRecord",
    "AccessRow",
    "access_records",
    "batch_digest",
    "holder_tag",
    "insert_records",
    "insert_rows",
    "records_of",
    "row_line",
    "stage_rows",
]

access_records = Table(
    "access_records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("holder_key", String(64), nullable=False),  # the holder's blind index, not the number
    Column("department_code", String(18), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("purpose", String(PURPOSE_WIDTH), nullable=False),
    Column("case_number", String(CASE_NUMBER_WIDTH), nullable=False),
    Column("what", String(WHAT_WIDTH), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    # The write it came in, which one log entry covers (NULL: before migration 0010, covered
    # by the entry LEGACY_BATCH).
    Column("batch", String(32), nullable=True),
    # The staff member the department said acted (migration 0016; NULL: it named none).
    Column("staff", String(64), nullable=True),
    # A number derived from holder_key (:func:`holder_tag`, migration 0025): the index finds
    # a holder's records by it, an 8-byte key where the 64-character one cost the batch
    # path's insert twice as much; the query still compares holder_key itself.
    Column("holder_tag", BigInteger(), nullable=False),
    Index("ix_access_records_holder_tag", "holder_tag", "id"),
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
    staff: str | None = None  # the department's assertion of who acted (None: not said)
    batch: str = ""  # the log entry (ref) covering it, as read back; "" when not yet written


#: The columns of an :data:`AccessRow`, in order.
ROW_COLUMNS = (
    "holder_key",
    "department_code",
    "channel",
    "purpose",
    "case_number",
    "what",
    "at",
    "staff",
)
_COLUMNS = (*ROW_COLUMNS, "batch", "holder_tag")


#: The log entry kind of a batch of access records.
KIND = "access_records"

#: The batch (and log entry ref) of the records made before the log covered them.
LEGACY_BATCH = "legacy"


def insert_records(conn: Connection, records: Sequence[AccessRecord]) -> None:
    """Store access records and log them (inside the caller's unit of work)."""
    insert_rows(
        conn,
        [
            (
                r.holder_key,
                r.department_code,
                r.channel,
                r.purpose,
                r.case_number,
                r.what,
                r.at,
                r.staff,
            )
            for r in records
        ],
    )


def insert_rows(conn: Connection, rows: Sequence[AccessRow]) -> None:
    """Store access records given as :data:`AccessRow` and append their batch's log entry."""
    entry = stage_rows(conn, rows)
    if entry is not None:
        audit_log.append(conn, [entry], rows[-1][6])


def stage_rows(conn: Connection, rows: Sequence[AccessRow]) -> Entry | None:
    """Store access records as one batch and return the log entry the caller must append in
    the same transaction (verification receipts append theirs with it, in one go). On the
    driver: batch verification writes thousands a second."""
    if not rows:
        return None
    batch = time_ordered_id("A", rows[-1][6])
    stored, digest = stage(rows, batch)
    insert_many(conn, access_records, _COLUMNS, stored)
    return Entry(KIND, batch, digest)


def records_of(conn: Connection, holder_key: str, before_id: int, limit: int) -> list[AccessRecord]:
    """A holder's access records, newest first, with ids below ``before_id`` (0 = newest)."""
    stmt = select(access_records).where(
        access_records.c.holder_tag == holder_tag(holder_key),
        access_records.c.holder_key == holder_key,
    )
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
            staff=r.staff,
            batch=r.batch or LEGACY_BATCH,
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
