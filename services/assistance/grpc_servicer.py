"""The Assistance gRPC servicer: proto → service → proto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

from services.assistance.domain.commitments import Commitment, CommitmentStatus
from services.assistance.domain.items import AssistanceItem, Procedure
from services.assistance.domain.requests import AssistanceRequest, RequestStatus
from services.assistance.queue import pending_position
from services.assistance.service import AssistanceService, ItemFilter
from services.common.access_log import AccessRecord
from services.common.errors import InvalidArgument
from services.common.identifiers import mask_holder_number
from services.common.identity import Caller, current_caller
from services.common.paging import page_size, sized_page
from services.common.wire import timestamp
from yihao.v1 import assistance_pb2 as pb
from yihao.v1 import assistance_pb2_grpc as pb_grpc

WATCH_POLL_SECONDS = 1.0
PROCEDURES = {Procedure.AUTOMATIC: pb.PROCEDURE_AUTOMATIC, Procedure.MANUAL: pb.PROCEDURE_MANUAL}
PROCEDURES_IN: dict[int, Procedure] = {v: k for k, v in PROCEDURES.items()}
STATUSES = {s: getattr(pb, f"REQUEST_STATUS_{s.name}") for s in RequestStatus}
STATUSES_IN = {v: k for k, v in STATUSES.items()}
COMMITMENTS = {s: getattr(pb, f"COMMITMENT_STATUS_{s.name}") for s in CommitmentStatus}
COMMITMENTS_IN = {v: k for k, v in COMMITMENTS.items()}


def _listed(item: pb.AssistanceItem, f: ItemFilter) -> bool:
    """Whether a peer's item passes ListItems' filters."""
    return (
        (not f.provider_code or item.provider_code == f.provider_code)
        and (not f.requester_code or f.requester_code in item.requester_codes)
        and (f.procedure is None or PROCEDURES[f.procedure] == item.procedure)
        and (not f.text or f.text in item.code or f.text in item.name)
    )


def _enum_in(value: int, table: dict[int, Any], field: str) -> Any:
    if value == 0:
        return None
    if value not in table:
        raise InvalidArgument.field(field, f"{value} is not a known value", "ENUM")
    return table[value]


def item_in(msg: pb.AssistanceItem) -> AssistanceItem:
    """An item from a registration request (validated)."""
    procedure = _enum_in(msg.procedure, PROCEDURES_IN, "item.procedure")
    if procedure is None:
        raise InvalidArgument.field("item.procedure", "AUTOMATIC or MANUAL", "REQUIRED")
    return AssistanceItem.create(
        code=msg.code.strip(),
        name=msg.name,
        provider_code=msg.provider_code.strip(),
        fields=tuple(msg.fields),
        requester_codes=frozenset(c.strip() for c in msg.requester_codes),
        procedure=procedure,
        time_limit_working_days=msg.time_limit_working_days,
        refusal_grounds=tuple(g.strip().upper() for g in msg.refusal_grounds),
        licence_type_code=msg.licence_type_code.strip(),
        attestation=msg.attestation.strip(),
        unmasked_fields=tuple(msg.unmasked_fields),
        legal_basis_required=msg.legal_basis_required,
        allowed_purposes=tuple(msg.allowed_purposes),
        method=msg.method,
        responsible_office=msg.responsible_office,
        consent_required=msg.consent_required,
    )


class PeerItems(Protocol):
    """Assistance across regions, the requesting side (federation; implemented by
    :class:`services.federation.assistance_client.PeerAssistance`, which depends on this)."""

    def items(self, caller: Caller) -> list[pb.AssistanceItem]:
        """Peers' published items, each marked with its region."""
        ...

    def owner_of_item(self, caller: Caller, code: str) -> tuple[Any, pb.AssistanceItem] | None:
        """The peer publishing item ``code`` and the item (None: none does)."""
        ...

    def submit(
        self, caller: Caller, peer: Any, item: pb.AssistanceItem, request: pb.SubmitRequestRequest
    ) -> pb.AssistanceRequest:
        """The request, forwarded to the peer and recorded here."""
        ...

    def is_forwarded(self, request_id: str) -> bool:
        """Whether a request id is one forwarded to a peer from here."""
        ...

    def changes_since(self, caller: Caller, seq: int) -> list[tuple[pb.AssistanceRequest, int]]:
        """The caller's forwarded requests changed after ``seq``, with their sequence."""
        ...

    def get(self, caller: Caller, request_id: str) -> pb.AssistanceRequest:
        """A forwarded request as the peer holds it now."""
        ...

    def urge(
        self, caller: Caller, request_id: str, note: str, *, supervisor: bool = False
    ) -> pb.AssistanceRequest:
        """Urge a forwarded request at the peer (``supervisor``: the caller is a supervisor
        here, who may urge any department's forwarded request)."""
        ...

    def overdue(self, now: datetime, limit: int) -> list[pb.AssistanceRequest]:
        """Forwarded requests pending past their deadline, as last seen."""
        ...

    def mine(self, caller: Caller, status: int) -> list[pb.AssistanceRequest]:
        """The caller's forwarded requests (of ``status``; 0: any), as last seen here."""
        ...


class AssistanceServicer(pb_grpc.AssistanceServicer):  # type: ignore[misc]
    """Thin transport over :class:`AssistanceService`; with federation, items of peer
    regions' providers are listed and requests to them forwarded (``peers``)."""

    def __init__(self, service: AssistanceService, peers: PeerItems | None = None) -> None:
        self.service = service
        self.peers = peers

    def _names(self, code: str) -> str:
        dept = self.service.reader.department(code)
        return dept.name if dept else ""

    def item_out(self, item: AssistanceItem) -> pb.AssistanceItem:
        return pb.AssistanceItem(
            code=item.code,
            name=item.name,
            provider_code=item.provider_code,
            provider_name=self._names(item.provider_code),
            licence_type_code=item.licence_type_code,
            fields=item.fields,
            unmasked_fields=item.unmasked_fields,
            attestation=item.attestation,
            requester_codes=sorted(item.requester_codes),
            legal_basis_required=item.legal_basis_required,
            allowed_purposes=item.allowed_purposes,
            procedure=PROCEDURES[item.procedure],
            method=item.method,
            responsible_office=item.responsible_office,
            time_limit_working_days=item.time_limit_working_days,
            refusal_grounds=item.refusal_grounds,
            consent_required=item.consent_required,
        )

    def request_out(
        self, r: AssistanceRequest, *, whole_number: bool = False
    ) -> pb.AssistanceRequest:
        item = next((i for i in self.service.items() if i.code == r.item_code), None)
        number = (
            r.holder.value if whole_number else mask_holder_number(r.holder.value, r.holder.kind)
        )
        return pb.AssistanceRequest(
            request_id=r.request_id,
            item_code=r.item_code,
            item_name=item.name if item else "",
            requester_code=r.requester_code,
            provider_code=r.provider_code,
            holder_number=number,
            purpose=r.purpose,
            legal_basis=r.legal_basis,
            case_number=r.case_number,
            requested_fields=r.requested_fields,
            status=STATUSES[r.status],
            submitted_at=timestamp(r.submitted_at),
            deadline=timestamp(r.deadline),
            decided_at=timestamp(r.decided_at),
            overdue=r.overdue(self.service.clock.now()),
            answer=r.answer,
            refusal_ground=r.refusal_ground,
            refusal_explanation=r.refusal_explanation,
            urgings=[
                pb.Urging(by_code=u.by_code, note=u.note, at=timestamp(u.at)) for u in r.urgings
            ],
            version=r.version,
            deadline_provisional=r.deadline_provisional,
            decision_body=r.seal.body if r.seal else b"",
            decision_signature=r.seal.signature if r.seal else b"",
            decision_key_id=r.seal.key_id if r.seal else "",
            requester_staff=r.requester_staff or "",
            requester_region=r.requester_region,
        )

    # ---------------------------------------------------------------------------- catalogue

    def RegisterItem(self, request: pb.RegisterItemRequest, context: Any) -> Any:
        return self.item_out(self.service.register_item(item_in(request.item)))

    def ListItems(self, request: pb.ListItemsRequest, context: Any) -> Any:
        filters = ItemFilter(
            provider_code=request.provider_code.strip(),
            requester_code=request.requester_code.strip(),
            procedure=_enum_in(request.procedure, PROCEDURES_IN, "procedure"),
            text=request.text.strip(),
        )
        items, token = self.service.items_page(filters, request.page_size, request.page_token)
        encoded = [self.item_out(i) for i in items]
        kept, token = sized_page(
            items, encoded, [m.ByteSize() for m in encoded], lambda i: i.code, token
        )
        if self.peers is not None and not token:  # peers' items follow this region's
            kept += [i for i in self.peers.items(current_caller()) if _listed(i, filters)]
        return pb.ListItemsResponse(items=kept, next_page_token=token)

    # ----------------------------------------------------------------------------- requests

    def SubmitRequest(self, request: pb.SubmitRequestRequest, context: Any) -> Any:
        caller = current_caller()
        if self.peers is not None and self.service.cached_item(request.item_code.strip()) is None:
            owner = self.peers.owner_of_item(caller, request.item_code)
            if owner is not None:
                return self.peers.submit(caller, owner[0], owner[1], request)
        submitted = self.service.submit(
            caller,
            request.idempotency_key,
            request.item_code,
            request.holder_number,
            request.purpose,
            request.legal_basis,
            request.case_number,
            list(request.requested_fields),
            request.consent_grant_id,
        )
        return self.request_out(submitted)

    def GetRequest(self, request: pb.GetRequestRequest, context: Any) -> Any:
        caller = current_caller()
        if self.peers is not None and self.peers.is_forwarded(request.request_id):
            return self.peers.get(caller, request.request_id)
        found = self.service.get(caller, request.request_id)
        return self.request_out(found, whole_number=caller.code == found.provider_code)

    def ListMyRequests(self, request: pb.ListRequestsRequest, context: Any) -> Any:
        status = _enum_in(request.status, STATUSES_IN, "status")
        rows, token = self.service.list_mine(
            current_caller(), status, request.page_size, request.page_token
        )
        encoded = [self.request_out(r) for r in rows]
        kept, token = sized_page(
            rows, encoded, [m.ByteSize() for m in encoded], lambda r: r.request_id, token
        )
        if self.peers is not None and not token:  # then those sent to peers' providers
            kept += self.peers.mine(current_caller(), STATUSES[status] if status else 0)
        return pb.ListRequestsResponse(requests=kept, next_page_token=token)

    def WatchMyRequests(self, request: pb.WatchMyRequestsRequest, context: Any) -> Iterator[Any]:
        caller = current_caller()
        seq, forwarded_seq, first = 0, 0, True
        while context.is_active():
            seen = self.service.notifier.generation
            for changed, changed_seq in self.service.changes_since(caller, seq):
                seq = max(seq, changed_seq)
                # The backlog is the open requests; after it, every change is sent.
                if not first or changed.status is RequestStatus.PENDING:
                    yield self.request_out(changed)
            # Then those sent to peers' providers, as last seen here (decisions are pulled).
            for message, changed_seq in self._forwarded_changes(caller, forwarded_seq):
                forwarded_seq = max(forwarded_seq, changed_seq)
                if not first or message.status == pb.REQUEST_STATUS_PENDING:
                    yield message
            first = False
            if not request.follow:
                return
            self.service.notifier.wait(seen, WATCH_POLL_SECONDS)

    def _forwarded_changes(
        self, caller: Caller, seq: int
    ) -> list[tuple[pb.AssistanceRequest, int]]:
        return self.peers.changes_since(caller, seq) if self.peers is not None else []

    def ListPending(self, request: pb.ListRequestsRequest, context: Any) -> Any:
        rows, token = self.service.list_pending(
            current_caller(), request.page_size, request.page_token
        )
        encoded = [self.request_out(r, whole_number=True) for r in rows]
        kept, token = sized_page(
            rows, encoded, [m.ByteSize() for m in encoded], pending_position, token
        )
        return pb.ListRequestsResponse(requests=kept, next_page_token=token)

    def Answer(self, request: pb.AnswerRequest, context: Any) -> Any:
        answered = self.service.answer(current_caller(), request.request_id, dict(request.data))
        return self.request_out(answered, whole_number=True)

    def Refuse(self, request: pb.RefuseRequest, context: Any) -> Any:
        refused = self.service.refuse(
            current_caller(), request.request_id, request.ground, request.explanation
        )
        return self.request_out(refused, whole_number=True)

    def Urge(self, request: pb.UrgeRequest, context: Any) -> Any:
        if self.peers is not None and self.peers.is_forwarded(request.request_id):
            caller = current_caller()
            return self.peers.urge(
                caller,
                request.request_id,
                request.note,
                supervisor=self.service.is_local_supervisor(caller),
            )
        return self.request_out(
            self.service.urge(current_caller(), request.request_id, request.note)
        )

    # -------------------------------------------------------------------------- supervision

    def Supervise(self, request: pb.SuperviseRequest, context: Any) -> Any:
        figures, overdue, broken = self.service.supervise(
            list(request.department_codes),
            request.submitted_from,
            request.submitted_to,
            request.max_overdue,
        )
        return pb.SupervisionReport(
            as_of=timestamp(self.service.clock.now()),
            departments=[
                pb.DepartmentFigures(
                    department_code=f.department_code,
                    department_name=self._names(f.department_code),
                    requests=f.requests,
                    answered=f.answered,
                    answered_on_time=f.answered_on_time,
                    refused=f.refused,
                    refusals_by_ground=dict(f.refusals_by_ground),
                    overdue_now=f.overdue_now,
                    median_response_working_hours=f.median_response_working_hours,
                    urgings=f.urgings,
                    provisional_deadlines=f.provisional_deadlines,
                )
                for f in figures
            ],
            overdue=[self.request_out(r) for r in overdue]
            + self._peers_overdue(request, len(overdue)),
            broken_commitments=[commitment_out(c) for c in broken],
            calendar_warning=self.service.calendar_warning(),
            alerts=[
                pb.SupervisionAlert(
                    department_code=a.department_code,
                    department_name=self._names(a.department_code),
                    kind=a.kind,
                    subject=a.subject,
                    day=a.day.isoformat(),
                    at=timestamp(a.at),
                )
                for a in self.service.alerts(request.submitted_from, request.submitted_to)
            ],
        )

    def _peers_overdue(
        self, request: pb.SuperviseRequest, shown: int
    ) -> list[pb.AssistanceRequest]:
        """This region's requests to peers' providers pending past their deadline (as last
        seen here), after this region's own, within the same limit."""
        if self.peers is None:
            return []
        codes = set(request.department_codes)
        limit = page_size(request.max_overdue, 100, 1000, "max_overdue") - shown
        rows = self.peers.overdue(self.service.clock.now(), limit) if limit > 0 else []
        return [r for r in rows if not codes or r.provider_code in codes]

    # ------------------------------------------------------------------------ access records

    def ListAccessRecords(self, request: pb.ListAccessRecordsRequest, context: Any) -> Any:
        rows, token = self.service.access_records(
            request.holder_number,
            request.page_size,
            request.page_token,
            caller=current_caller(),
            purpose=request.purpose,
            case_number=request.case_number,
        )
        return pb.ListAccessRecordsResponse(
            records=[self._record_out(r) for r in rows], next_page_token=token
        )

    def _record_out(self, r: AccessRecord) -> pb.AccessRecord:
        return pb.AccessRecord(
            at=timestamp(r.at),
            department_code=r.department_code,
            department_name=self._names(r.department_code),
            channel=r.channel,
            purpose=r.purpose,
            case_number=r.case_number,
            what=r.what,
            staff=r.staff or "",
            log_ref=r.batch,
        )

    # --------------------------------------------------------------------------- commitments

    def RecordCommitment(self, request: pb.RecordCommitmentRequest, context: Any) -> Any:
        c = self.service.record_commitment(
            current_caller(),
            request.applicant_number,
            request.applicant_name,
            request.licence_type_code,
            request.case_number,
            request.check_by,
        )
        return commitment_out(c)

    def ListCommitments(self, request: pb.ListCommitmentsRequest, context: Any) -> Any:
        status = _enum_in(request.status, COMMITMENTS_IN, "status")
        found = self.service.commitments(status, viewer=current_caller())
        return pb.ListCommitmentsResponse(commitments=[commitment_out(c) for c in found])

    def CheckCommitments(self, request: pb.CheckCommitmentsRequest, context: Any) -> Any:
        changed = self.service.check_commitments()
        return pb.ListCommitmentsResponse(commitments=[commitment_out(c) for c in changed])


def commitment_out(c: Commitment) -> pb.Commitment:
    """A commitment for an answer (the applicant's number masked)."""
    return pb.Commitment(
        commitment_id=c.commitment_id,
        department_code=c.department_code,
        applicant_number=mask_holder_number(c.applicant.value, c.applicant.kind),
        applicant_name=c.applicant_name,
        licence_type_code=c.licence_type_code,
        case_number=c.case_number,
        check_by=c.check_by.isoformat(),
        status=COMMITMENTS[c.status],
        recorded_at=timestamp(c.recorded_at),
        checked_at=timestamp(c.checked_at),
        outcome=c.outcome,
    )
