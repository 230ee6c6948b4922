"""Assistance across regions, the requesting side: peers' catalogues, and this region's record
of the requests its departments sent to peers' providers.

A department asks its own region as usual. An item code this region does not publish but a
peer does (its catalogue, fetched through ``Federation.ListAssistanceItems`` and kept for
``CATALOGUE_SECONDS``) is forwarded: ``Federation.SubmitAssistance`` under a signed assertion,
and the peer records the request under this region and the department. This region keeps its
own record (table ``assistance_forwarded``: who asked what of whom, for which case, the
holder by blind index and masked number, the status and deadline as last seen), refreshed
whenever the request is read or urged here, and (the pending ones nearest their deadline)
whenever its department lists its requests. A decision is taken into the record only once its
statement verifies under one of the peer's published receipt keys and names this request, this
department and the answer as given; then this region writes the holder's access record
(channel ``forwarded:<region>``) and a log entry (kind ``assistance_forwarded``, committing to
the peer's signed statement), so each side keeps its own evidence.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    insert,
    select,
    update,
)

from services.assistance.domain.requests import answer_sha256
from services.common import audit_log
from services.common.access_log import AccessRecord, insert_records
from services.common.canonical import canonical_json, sha256_hex
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import FailedPrecondition, NotFound, YihaoError
from services.common.evidence import Entry
from services.common.holder_vault import HolderVault
from services.common.identifiers import mask_holder_number, parse_holder_number
from services.common.identity import Caller
from services.common.ids import change_seq
from services.federation.config import Peer
from services.federation.evidence import SUPERVISOR
from services.federation.forwarded_table import (
    FORWARDED_KIND,
    PENDING,
    STATUS_NAMES,
    as_message,
    assistance_forwarded,
    overdue_now,
)
from services.federation.forwarder import REGION_UNAVAILABLE, Forwarder
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import federation_pb2 as fpb

log = logging.getLogger("yihao.federation")

CATALOGUE_SECONDS = 30.0
#: At most this many forwarded requests are listed after a department's own (newest first).
MINE_LIMIT = 500
#: At most this many of a department's pending forwarded requests are asked about per listing.
REFRESH_LIMIT = 20
#: Forwarded requests still pending that one periodic pull asks the peers about (nearest
#: their deadline first; every department's).
PULL_LIMIT = 200


def _decision_invalid(region: str, why: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"region {region} answered with a decision that does not verify ({why}); "
        "nothing was recorded from it",
        reason="PEER_DECISION_INVALID",
    )


def decision_problem(
    peer: Peer, caller: Caller, got: apb.AssistanceRequest, own_region: str
) -> str:
    """Why a peer's decided request is not vouched for by its signed statement ("" if it is):
    signed by a published receipt key of the peer, naming this request, this department as
    requester from this region (``own_region``), the status and the answer as given."""
    key = peer.receipt_keys.get(got.decision_key_id)
    if key is None or not key.verify(got.decision_body, got.decision_signature):
        return "signature"
    try:
        body: dict[str, Any] = json.loads(got.decision_body)
    except ValueError:
        return "body"
    stated = (
        body.get("request_id"),
        body.get("requester"),
        body.get("requester_region"),
        body.get("status"),
        body.get("answer_sha256"),
    )
    expected = (
        got.request_id,
        caller.code,
        own_region,
        STATUS_NAMES.get(got.status),
        answer_sha256(dict(got.answer)),
    )
    return "" if stated == expected else "statement"


class PeerAssistance:
    """Peers' catalogues and the forwarded requests of this region's departments."""

    def __init__(
        self, forwarder: Forwarder, db: Database, vault: HolderVault, clock: Clock
    ) -> None:
        self.forwarder = forwarder
        self.db = db
        self.vault = vault
        self.clock = clock
        self._lock = threading.Lock()
        self._catalogues: dict[str, tuple[float, list[apb.AssistanceItem]]] = {}

    # ---------------------------------------------------------------------- catalogue

    def items(self, caller: Caller) -> list[apb.AssistanceItem]:
        """Every reachable peer's published items, each marked with its region (a peer that
        cannot be reached now contributes none; the last copy is kept for a while)."""
        found: list[apb.AssistanceItem] = []
        for peer in self.forwarder.config.peers.values():
            found += self._catalogue(caller, peer)
        return found

    def _catalogue(self, caller: Caller, peer: Peer) -> list[apb.AssistanceItem]:
        with self._lock:
            cached = self._catalogues.get(peer.region)
        if cached is not None and time.monotonic() - cached[0] < CATALOGUE_SECONDS:
            return cached[1]
        ask = apb.ListItemsRequest()
        try:
            reply = self._ask(caller, peer, "ListAssistanceItems", ask, apb.SubmitRequestRequest())
        except YihaoError as exc:
            log.warning("catalogue of region %s unavailable: %s", peer.region, exc.reason)
            return cached[1] if cached is not None else []
        items = [apb.AssistanceItem(**_fields(i), region=peer.region) for i in reply.items]
        with self._lock:
            self._catalogues[peer.region] = (time.monotonic(), items)
        return items

    def owner_of_item(self, caller: Caller, code: str) -> tuple[Peer, apb.AssistanceItem] | None:
        """The peer publishing item ``code``, and the item (None: no peer publishes it)."""
        for item in self.items(caller):
            if item.code == code.strip():
                return self.forwarder.config.peers[item.region], item
        return None

    def changes_since(self, caller: Caller, seq: int) -> list[tuple[apb.AssistanceRequest, int]]:
        """The caller's forwarded requests changed after ``seq`` (forwarded, urged, decision
        taken), oldest change first, as last seen here, each with its change sequence."""
        t = assistance_forwarded
        with self.db.read() as conn:
            rows = conn.execute(
                select(t)
                .where(t.c.requester_code == caller.code, t.c.changed_seq > seq)
                .order_by(t.c.changed_seq)
                .limit(MINE_LIMIT)
            ).all()
        now = self.clock.now()
        out = []
        for r in rows:
            message = as_message(r, overdue=overdue_now(r, now))
            message.version = r.changed_seq
            out.append((message, r.changed_seq))
        return out

    # ----------------------------------------------------------------------- requests

    def submit(
        self,
        caller: Caller,
        peer: Peer,
        item: apb.AssistanceItem,
        request: apb.SubmitRequestRequest,
    ) -> apb.AssistanceRequest:
        """Forward a request to ``peer``'s item and keep this region's record of it."""
        holder = parse_holder_number(request.holder_number, "holder_number")
        extra = {"consent_grant_id": request.consent_grant_id} if request.consent_grant_id else None
        got = self._ask(caller, peer, "SubmitAssistance", request, request, extra).request
        row = {
            "request_id": got.request_id,
            "region": peer.region,
            "item_code": item.code,
            "item_name": item.name[:200],
            "requester_code": caller.code,
            "requester_staff": caller.staff,
            "provider_code": got.provider_code,
            "holder_index": self.vault.index(holder),
            "holder_masked": mask_holder_number(holder.value, holder.kind),
            "purpose": got.purpose,
            "case_number": got.case_number,
            "status": "pending",
            "submitted_at": got.submitted_at.ToDatetime(tzinfo=UTC),
            "deadline": got.deadline.ToDatetime(tzinfo=UTC),
            "decided_at": None,
            "decision_sha256": None,
            "urgings": 0,
            "changed_seq": change_seq(),
        }
        with self.db.transaction() as conn:
            if (
                conn.execute(
                    select(assistance_forwarded.c.request_id).where(
                        assistance_forwarded.c.request_id == got.request_id
                    )
                ).first()
                is None
            ):  # a repeated idempotency key returns the same request
                conn.execute(insert(assistance_forwarded).values(row))
        return self._taken(caller, peer, got)

    def is_forwarded(self, request_id: str) -> bool:
        """Whether ``request_id`` is a request this region forwarded to a peer."""
        return self._row(request_id.strip()) is not None

    def get(self, caller: Caller, request_id: str) -> apb.AssistanceRequest:
        """The request as the peer holds it now (this region's record brought up to date)."""
        peer, _ = self._mine(caller, request_id)
        ask = apb.GetRequestRequest(request_id=request_id.strip())
        return self._taken(
            caller,
            peer,
            self._ask(
                caller, peer, "GetAssistance", ask, _why(self._row(request_id.strip()))
            ).request,
        )

    def urge(
        self, caller: Caller, request_id: str, note: str, *, supervisor: bool = False
    ) -> apb.AssistanceRequest:
        """催办 across regions: the peer records the urging under the department and region.
        A ``supervisor`` of this region may urge any department's forwarded request: the
        assertion names the supervisor's department and states ``acting_as: supervisor``
        (the peer accepts it only if its policy for this region allows supervisors)."""
        peer, row = self._mine(caller, request_id, supervisor=supervisor)
        extra = {"acting_as": SUPERVISOR} if row.requester_code != caller.code else None
        ask = apb.UrgeRequest(request_id=request_id.strip(), note=note)
        got = self._ask(caller, peer, "UrgeAssistance", ask, _why(row), extra).request
        # the decision, if any, names the requesting department, not the supervisor
        return self._taken(Caller(row.requester_code, row.requester_staff), peer, got)

    def overdue(self, now: datetime, limit: int) -> list[apb.AssistanceRequest]:
        """This region's forwarded requests still pending (as last seen) past their deadline,
        most overdue first: supervision on the requester's side."""
        t = assistance_forwarded
        with self.db.read() as conn:
            rows = conn.execute(
                select(t)
                .where(t.c.status == "pending", t.c.deadline < now)
                .order_by(t.c.deadline)
                .limit(limit)
            ).all()
        return [as_message(r, overdue=True) for r in rows]

    def mine(self, caller: Caller, status: int) -> list[apb.AssistanceRequest]:
        """The caller's requests to peers' providers, newest first (at most ``MINE_LIMIT``),
        of ``status`` (0: any), as last seen here once :meth:`refresh` has asked the peers
        about the oldest still pending (GetRequest brings any one up to date)."""
        self.refresh(caller)
        t = assistance_forwarded
        stmt = select(t).where(t.c.requester_code == caller.code)
        if status:
            stmt = stmt.where(t.c.status == STATUS_NAMES[status])
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(t.c.submitted_at.desc()).limit(MINE_LIMIT)).all()
        now = self.clock.now()
        return [as_message(r, overdue=overdue_now(r, now)) for r in rows]

    def refresh(self, caller: Caller) -> int:
        """Ask the peers about the caller's forwarded requests still pending as last seen (the
        ``REFRESH_LIMIT`` nearest their deadline), so a decision taken there reaches this
        region's record (access record, log entry) without the request being read first. A
        peer that cannot answer, refuses, or answers with a decision that does not verify is
        logged and skipped (its requests stay as last seen; an unreachable peer is not asked
        again in this call). The number of requests brought up to date."""
        t = assistance_forwarded
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.c.request_id, t.c.region, t.c.requester_code, t.c.requester_staff)
                .where(t.c.requester_code == caller.code, t.c.status == "pending")
                .order_by(t.c.deadline)
                .limit(REFRESH_LIMIT)
            ).all()
        return self._refresh(rows)

    def pull_pending(self) -> int:
        """Ask the peers about every department's forwarded requests still pending as last
        seen (the ``PULL_LIMIT`` nearest their deadline), each in its requesting department's
        name: run every ``YIHAO_FEDERATION_PULL_SECONDS`` by one process, so a decision taken
        in the providing region is recorded here (access record, log entry) and supervision's
        overdue list is current, though nobody here read or listed the request. The number of
        requests brought up to date."""
        t = assistance_forwarded
        with self.db.read() as conn:
            rows = conn.execute(
                select(t.c.request_id, t.c.region, t.c.requester_code, t.c.requester_staff)
                .where(t.c.status == "pending")
                .order_by(t.c.deadline)
                .limit(PULL_LIMIT)
            ).all()
        return self._refresh(rows)

    def _refresh(self, rows: Sequence[Any]) -> int:
        """Bring each row's request up to date, asked as its requesting department; a peer
        that cannot be reached is not asked again in this call."""
        skipped: set[str] = set()
        refreshed = 0
        for row in rows:
            if row.region in skipped:
                continue
            try:
                self.get(Caller(row.requester_code, row.requester_staff), row.request_id)
            except YihaoError as exc:
                log.warning(
                    "region %s: forwarded request not refreshed: %s", row.region, exc.reason
                )
                if exc.reason == REGION_UNAVAILABLE:
                    skipped.add(row.region)
                continue
            refreshed += 1
        return refreshed

    # ---------------------------------------------------------------------- internals

    def _ask(
        self,
        caller: Caller,
        peer: Peer,
        rpc: str,
        message: Any,
        why: Any,
        extra: dict[str, str] | None = None,
    ) -> fpb.FederatedAssistanceResponse:
        payload = message.SerializeToString()
        request = fpb.FederatedAssistanceRequest(request=payload)
        response: fpb.FederatedAssistanceResponse = self.forwarder.ask(
            caller, peer, rpc, request, payload, why, extra
        )
        return response

    def _row(self, request_id: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(
                select(assistance_forwarded).where(assistance_forwarded.c.request_id == request_id)
            ).first()

    def _mine(
        self, caller: Caller, request_id: str, *, supervisor: bool = False
    ) -> tuple[Peer, Any]:
        row = self._row(request_id.strip())
        peer = self.forwarder.config.peers.get(row.region) if row is not None else None
        if row is None or peer is None or (row.requester_code != caller.code and not supervisor):
            raise NotFound(f"no request {request_id}", reason="REQUEST_NOT_FOUND")
        return peer, row

    def _taken(
        self, caller: Caller, peer: Peer, got: apb.AssistanceRequest
    ) -> apb.AssistanceRequest:
        """Bring this region's record up to date with the peer's answer; a decision is taken
        (access record, log entry) once, and only when its signed statement verifies."""
        decided = got.status != PENDING
        region = self.forwarder.config.region
        problem = decision_problem(peer, caller, got, region) if decided else ""
        if problem:
            log.warning("region %s: assistance decision does not verify (%s)", peer.region, problem)
            raise _decision_invalid(peer.region, problem)
        t = assistance_forwarded
        with self.db.transaction() as conn:
            row = conn.execute(select(t).where(t.c.request_id == got.request_id)).first()
            if row is None:
                raise NotFound(f"no request {got.request_id}", reason="REQUEST_NOT_FOUND")
            changes: dict[str, Any] = {"urgings": len(got.urgings)}
            if decided and row.status == "pending":
                changes |= self._decision(conn, row, got)
            if changes["urgings"] != row.urgings or "status" in changes:
                changes["changed_seq"] = change_seq()
            conn.execute(update(t).where(t.c.request_id == got.request_id).values(changes))
        got.provider_region = peer.region
        return got

    def _decision(self, conn: Any, row: Any, got: apb.AssistanceRequest) -> dict[str, Any]:
        sealed = {
            "body": got.decision_body.decode("utf-8"),
            "signature": got.decision_signature.hex(),
            "key_id": got.decision_key_id,
        }
        digest = sha256_hex(canonical_json(sealed, plain=True))
        decided_at = got.decided_at.ToDatetime(tzinfo=UTC)
        audit_log.append(conn, [Entry(FORWARDED_KIND, got.request_id, digest)], decided_at)
        if got.status == apb.REQUEST_STATUS_ANSWERED:
            insert_records(conn, [_access(row, got, decided_at)])
        return {
            "status": STATUS_NAMES[got.status],
            "decided_at": decided_at,
            "decision_sha256": digest,
        }


def _fields(item: apb.AssistanceItem) -> dict[str, Any]:
    copy = apb.AssistanceItem()
    copy.CopyFrom(item)
    copy.ClearField("region")
    return {f.name: v for f, v in copy.ListFields()}


def _why(row: Any) -> Any:
    """The purpose and case of a forwarded request, for the assertions that follow it."""
    return apb.SubmitRequestRequest(purpose=row.purpose, case_number=row.case_number)


def _access(row: Any, got: apb.AssistanceRequest, at: datetime) -> AccessRecord:
    return AccessRecord(
        holder_key=row.holder_index,
        department_code=row.requester_code,
        channel=f"forwarded:{row.region}",
        what=f"{row.item_name} ({row.item_code}) via region {row.region}: "
        f"{', '.join(got.requested_fields)}",
        at=at,
        purpose=row.purpose,
        case_number=row.case_number,
        staff=row.requester_staff,
    )


__all__: Sequence[str] = ["PeerAssistance", "decision_problem"]
