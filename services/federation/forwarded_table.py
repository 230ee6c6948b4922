"""This region's record of the assistance requests it forwarded to other regions: the table
``assistance_forwarded`` (who asked what of whom, the holder by blind index and masked number,
the status and deadline as last seen, the peer's signed decision's hash, the change sequence),
the message a row is shown as, and what ``yihao audit verify`` finds against the log.
:class:`~services.federation.assistance_client.PeerAssistance` keeps it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, select

from services.common import audit_log
from services.common.clock import as_utc
from services.common.database import metadata
from yihao.v1 import assistance_pb2 as apb

PENDING = apb.REQUEST_STATUS_PENDING
STATUS_NAMES: dict[int, str] = {
    apb.REQUEST_STATUS_PENDING: "pending",
    apb.REQUEST_STATUS_ANSWERED: "answered",
    apb.REQUEST_STATUS_REFUSED: "refused",
}
STATUSES_IN: dict[str, Any] = {name: value for value, name in STATUS_NAMES.items()}

assistance_forwarded = Table(
    "assistance_forwarded",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("region", String(6), nullable=False),
    Column("item_code", String(32), nullable=False),
    Column("item_name", String(200), nullable=False),
    Column("requester_code", String(18), nullable=False),
    Column("requester_staff", String(64), nullable=True),
    Column("provider_code", String(18), nullable=False),
    Column("holder_index", String(64), nullable=False),  # blind index
    Column("holder_masked", String(32), nullable=False),
    Column("purpose", String(200), nullable=False),
    Column("case_number", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decision_sha256", String(64), nullable=True),  # of the peer's signed statement
    Column("urgings", Integer, nullable=False),
    # When the record last changed (forwarded, urged, decided): microseconds, rising
    # (services.common.ids.change_seq); WatchMyRequests streams by it.
    Column("changed_seq", BigInteger, nullable=True),
    Index("ix_assistance_forwarded_requester", "requester_code", "submitted_at"),
    Index("ix_assistance_forwarded_changes", "requester_code", "changed_seq"),
    Index("ix_assistance_forwarded_pending", "status", "deadline"),
)


#: The log entry kind of a peer's decision taken into this region's record.
FORWARDED_KIND = "assistance_forwarded"


def forwarded_findings(
    conn: Any, leaves: Sequence[audit_log.Leaf]
) -> Iterator[tuple[int, str, str, str]]:
    """For ``yihao audit verify``: peers' decisions taken here, deleted, edited (status,
    decision hash) or written behind the log's back; as (index, kind, ref, what)."""
    logged = {x.ref: x for x in leaves if x.kind == FORWARDED_KIND}
    t = assistance_forwarded
    rows = {r.request_id: r for r in conn.execute(select(t).order_by(t.c.request_id))}
    for ref, leaf in logged.items():
        row = rows.get(ref)
        if row is None:
            yield leaf.index, leaf.kind, ref, "forwarded assistance request deleted"
        elif row.status == "pending" or row.decision_sha256 != leaf.payload_sha256:
            yield leaf.index, leaf.kind, ref, "forwarded assistance decision edited"
    for ref, row in rows.items():
        if row.status != "pending" and ref not in logged:
            yield -1, FORWARDED_KIND, ref, "forwarded assistance decision not in the log"


def overdue_now(row: Any, now: datetime) -> bool:
    """Pending past the deadline, or decided after it (as last seen)."""
    deadline = as_utc(row.deadline)
    decided = as_utc(row.decided_at) if row.decided_at is not None else None
    return (decided or now) > deadline


def as_message(row: Any, *, overdue: bool) -> apb.AssistanceRequest:
    message = apb.AssistanceRequest(
        request_id=row.request_id,
        item_code=row.item_code,
        item_name=row.item_name,
        requester_code=row.requester_code,
        provider_code=row.provider_code,
        holder_number=row.holder_masked,
        purpose=row.purpose,
        case_number=row.case_number,
        status=STATUSES_IN[row.status],
        overdue=overdue,
        provider_region=row.region,
        requester_staff=row.requester_staff or "",
    )
    message.submitted_at.FromDatetime(as_utc(row.submitted_at))
    message.deadline.FromDatetime(as_utc(row.deadline))
    if row.decided_at is not None:
        message.decided_at.FromDatetime(as_utc(row.decided_at))
    return message
