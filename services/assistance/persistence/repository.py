"""The assistance repository: items, requests, commitments. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from services.assistance.domain.commitments import Commitment, CommitmentStatus
from services.assistance.domain.items import AssistanceItem, Procedure
from services.assistance.domain.requests import (
    AssistanceRequest,
    DecisionSeal,
    Outcome,
    RequestStatus,
    Urging,
)
from services.assistance.persistence.tables import (
    assistance_items,
    assistance_requests,
    commitments,
)
from services.common.clock import as_utc
from services.common.database import duplicates_raise
from services.common.errors import AlreadyExists
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind

# ------------------------------------------------------------------------------------ items


def save_item(conn: Connection, item: AssistanceItem, at: datetime) -> None:
    """Insert or replace an item."""
    definition = asdict(item)
    definition["requester_codes"] = sorted(item.requester_codes)
    definition["procedure"] = item.procedure.value
    values = {"provider_code": item.provider_code, "definition": definition, "updated_at": at}
    done = conn.execute(
        update(assistance_items).where(assistance_items.c.code == item.code).values(values)
    )
    if done.rowcount == 0:
        conn.execute(insert(assistance_items).values(code=item.code, **values))


def list_items(conn: Connection) -> list[AssistanceItem]:
    """Every item, by code."""
    rows = conn.execute(select(assistance_items).order_by(assistance_items.c.code))
    return [_item(r.definition) for r in rows]


def _item(d: dict[str, Any]) -> AssistanceItem:
    return AssistanceItem(
        **{
            **d,
            "fields": tuple(d["fields"]),
            "requester_codes": frozenset(d["requester_codes"]),
            "procedure": Procedure(d["procedure"]),
            "refusal_grounds": tuple(d["refusal_grounds"]),
            "unmasked_fields": tuple(d["unmasked_fields"]),
            "allowed_purposes": tuple(d["allowed_purposes"]),
        }
    )


# --------------------------------------------------------------------------------- requests


def answer_binding(request_id: str) -> str:
    """What a request's sealed answer is bound to (it cannot be moved to another row)."""
    return f"request:{request_id}"


def _answer(row: Any, vault: HolderVault) -> dict[str, str]:
    if row.answer_sealed:
        opened = vault.open_values(bytes(row.answer_sealed), answer_binding(row.request_id))
        return {k: str(v) for k, v in opened.items()}
    return dict(row.answer)


def _request_row(r: AssistanceRequest, seq: int, vault: HolderVault) -> dict[str, Any]:
    sealed = vault.seal_holder(r.holder, "", r.request_id)
    return {
        "request_id": r.request_id,
        "item_code": r.item_code,
        "requester_code": r.requester_code,
        "provider_code": r.provider_code,
        "holder_kind": r.holder.kind.value,
        "holder_index": sealed.index,
        "holder_sealed": sealed.sealed,
        "purpose": r.purpose,
        "legal_basis": r.legal_basis,
        "case_number": r.case_number,
        "requested_fields": list(r.requested_fields),
        "status": r.status.value,
        "submitted_at": r.submitted_at,
        "deadline": r.deadline,
        "decided_at": r.decided_at,
        "answer": {},  # sealed below: an answer carries licence fields, sensitive ones too
        "answer_sealed": vault.seal_values(dict(r.answer), answer_binding(r.request_id)),
        "refusal_ground": r.refusal_ground,
        "refusal_explanation": r.refusal_explanation,
        "urgings": [
            {"by_code": u.by_code, "at": u.at.isoformat(), "note": u.note} for u in r.urgings
        ],
        "version": r.version,
        "seq": seq,
        "deadline_provisional": r.deadline_provisional,
        "time_limit_working_days": r.time_limit_working_days or None,
        "decision_body": r.seal.body if r.seal else None,
        "decision_signature": r.seal.signature if r.seal else None,
        "decision_key_id": r.seal.key_id if r.seal else None,
        "requester_staff": r.requester_staff,
        "requester_region": r.requester_region or None,
    }


def insert_request(
    conn: Connection, r: AssistanceRequest, key: str | None, seq: int, vault: HolderVault
) -> None:
    """Store a new request (``key``: the requester's idempotency key; AlreadyExists, the
    transaction spoilt, when a concurrent request took it first)."""
    row = _request_row(r, seq, vault)
    with duplicates_raise(_key_taken):
        conn.execute(insert(assistance_requests).values(**row, idempotency_key=key))


def _key_taken() -> AlreadyExists:
    return AlreadyExists(
        "this idempotency key was used concurrently", reason="IDEMPOTENCY_KEY_TAKEN"
    )


def update_request(conn: Connection, r: AssistanceRequest, seq: int, vault: HolderVault) -> None:
    """Store a changed request."""
    row = _request_row(r, seq, vault)
    conn.execute(
        update(assistance_requests)
        .where(assistance_requests.c.request_id == r.request_id)
        .values(row)
    )


def provisional_pending(
    conn: Connection, vault: HolderVault, *, for_update: bool = False
) -> list[AssistanceRequest]:
    """Pending requests whose deadline was counted on the provisional calendar (locked for
    the transaction with ``for_update``: another process settling them, or deciding one,
    waits, then finds it no longer provisional or pending)."""
    t = assistance_requests
    stmt = (
        select(t)
        .where(and_(t.c.status == RequestStatus.PENDING.value, t.c.deadline_provisional.is_(True)))
        .order_by(t.c.request_id)
    )
    rows = conn.execute(stmt.with_for_update() if for_update else stmt)
    return [_request(row, vault) for row in rows]


def get_request(
    conn: Connection, request_id: str, vault: HolderVault, *, for_update: bool = False
) -> AssistanceRequest | None:
    """One request by id."""
    stmt = select(assistance_requests).where(assistance_requests.c.request_id == request_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return _request(row, vault) if row else None


def request_by_key(
    conn: Connection, requester: str, key: str, vault: HolderVault
) -> AssistanceRequest | None:
    """The request a requester submitted with an idempotency key."""
    row = conn.execute(
        select(assistance_requests).where(
            and_(
                assistance_requests.c.requester_code == requester,
                assistance_requests.c.idempotency_key == key,
            )
        )
    ).first()
    return _request(row, vault) if row else None


def list_requests(
    conn: Connection,
    *,
    requester: str = "",
    provider: str = "",
    status: RequestStatus | None = None,
    after: str = "",
    limit: int = 1000,
    by_deadline: bool = False,
    after_deadline: datetime | None = None,
    providers: Sequence[str] = (),
    deadline_before: datetime | None = None,
    vault: HolderVault,
) -> list[AssistanceRequest]:
    """Requests filtered by party, status and deadline, in id order (or by deadline); the
    ones after ``after`` (an id; with ``after_deadline``, after that deadline and id)."""
    t = assistance_requests
    stmt = select(t)
    if requester:
        stmt = stmt.where(t.c.requester_code == requester)
    if provider:
        stmt = stmt.where(t.c.provider_code == provider)
    if providers:
        stmt = stmt.where(t.c.provider_code.in_(providers))
    if deadline_before is not None:
        stmt = stmt.where(t.c.deadline < deadline_before)
    if status is not None:
        stmt = stmt.where(t.c.status == status.value)
    if after_deadline is not None:
        later = and_(t.c.deadline == after_deadline, t.c.request_id > after)
        stmt = stmt.where(or_(t.c.deadline > after_deadline, later))
    elif after:
        stmt = stmt.where(t.c.request_id > after)
    order = (t.c.deadline, t.c.request_id) if by_deadline else (t.c.request_id,)
    return [_request(r, vault) for r in conn.execute(stmt.order_by(*order).limit(limit))]


def request_outcomes(
    conn: Connection,
    providers: Sequence[str],
    submitted_from: datetime | None,
    submitted_before: datetime | None,
) -> list[Outcome]:
    """What supervision needs of the requests submitted in a period (of ``providers``, or of
    every provider when empty): only the columns it uses, and no holder is unsealed."""
    t = assistance_requests
    stmt = select(
        t.c.provider_code,
        t.c.status,
        t.c.submitted_at,
        t.c.deadline,
        t.c.decided_at,
        t.c.refusal_ground,
        t.c.urgings,
        t.c.deadline_provisional,
    )
    if providers:
        stmt = stmt.where(t.c.provider_code.in_(providers))
    if submitted_from is not None:
        stmt = stmt.where(t.c.submitted_at >= submitted_from)
    if submitted_before is not None:
        stmt = stmt.where(t.c.submitted_at < submitted_before)
    return [
        Outcome(
            provider_code=row.provider_code,
            status=RequestStatus(row.status),
            submitted_at=as_utc(row.submitted_at),
            deadline=as_utc(row.deadline),
            decided_at=as_utc(row.decided_at) if row.decided_at else None,
            refusal_ground=row.refusal_ground,
            urgings=len(row.urgings),
            deadline_provisional=bool(row.deadline_provisional),
        )
        for row in conn.execute(stmt)
    ]


def changed_since(
    conn: Connection, requester: str, seq: int, vault: HolderVault
) -> list[tuple[AssistanceRequest, int]]:
    """A requester's requests changed after change sequence ``seq``, with their sequence."""
    t = assistance_requests
    rows = conn.execute(
        select(t).where(and_(t.c.requester_code == requester, t.c.seq > seq)).order_by(t.c.seq)
    )
    return [(_request(r, vault), int(r.seq)) for r in rows]


def _request(row: Any, vault: HolderVault) -> AssistanceRequest:
    holder, _ = vault.open_holder(
        HolderKind(row.holder_kind), bytes(row.holder_sealed), row.request_id
    )
    return AssistanceRequest(
        request_id=row.request_id,
        item_code=row.item_code,
        requester_code=row.requester_code,
        provider_code=row.provider_code,
        holder=holder,
        purpose=row.purpose,
        legal_basis=row.legal_basis,
        case_number=row.case_number,
        requested_fields=tuple(row.requested_fields),
        submitted_at=as_utc(row.submitted_at),
        deadline=as_utc(row.deadline),
        status=RequestStatus(row.status),
        decided_at=as_utc(row.decided_at) if row.decided_at else None,
        answer=_answer(row, vault),
        refusal_ground=row.refusal_ground,
        refusal_explanation=row.refusal_explanation,
        urgings=[
            Urging(u["by_code"], datetime.fromisoformat(u["at"]), u["note"]) for u in row.urgings
        ],
        deadline_provisional=bool(row.deadline_provisional),
        time_limit_working_days=row.time_limit_working_days or 0,
        version=row.version,
        seal=(
            DecisionSeal(
                bytes(row.decision_body), bytes(row.decision_signature), row.decision_key_id
            )
            if row.decision_body is not None and row.decision_signature is not None
            else None
        ),
        requester_staff=row.requester_staff,
        requester_region=row.requester_region or "",
    )


# ------------------------------------------------------------------------------ commitments


def _commitment_row(c: Commitment, vault: HolderVault) -> dict[str, Any]:
    sealed = vault.seal_holder(c.applicant, "", c.commitment_id)
    return {
        "commitment_id": c.commitment_id,
        "department_code": c.department_code,
        "applicant_kind": c.applicant.kind.value,
        "applicant_index": sealed.index,
        "applicant_sealed": sealed.sealed,
        "applicant_name": c.applicant_name,
        "licence_type_code": c.licence_type_code,
        "case_number": c.case_number,
        "check_by": c.check_by,
        "status": c.status.value,
        "recorded_at": c.recorded_at,
        "checked_at": c.checked_at,
        "outcome": c.outcome,
    }


def insert_commitment(conn: Connection, c: Commitment, vault: HolderVault) -> None:
    """Store a new commitment."""
    conn.execute(insert(commitments).values(**_commitment_row(c, vault)))


def update_commitments(conn: Connection, items: Sequence[Commitment], vault: HolderVault) -> None:
    """Store checked commitments."""
    for c in items:
        conn.execute(
            update(commitments)
            .where(commitments.c.commitment_id == c.commitment_id)
            .values(_commitment_row(c, vault))
        )


def list_commitments(
    conn: Connection,
    vault: HolderVault,
    status: CommitmentStatus | None = None,
    department: str = "",
) -> list[Commitment]:
    """Commitments, oldest first."""
    stmt = select(commitments)
    if status is not None:
        stmt = stmt.where(commitments.c.status == status.value)
    if department:
        stmt = stmt.where(
            or_(commitments.c.department_code == department, commitments.c.department_code == "")
        )
    rows = conn.execute(stmt.order_by(commitments.c.recorded_at, commitments.c.commitment_id))
    return [
        Commitment(
            commitment_id=r.commitment_id,
            department_code=r.department_code,
            applicant=vault.open_holder(
                HolderKind(r.applicant_kind), bytes(r.applicant_sealed), r.commitment_id
            )[0],
            applicant_name=r.applicant_name,
            licence_type_code=r.licence_type_code,
            case_number=r.case_number,
            check_by=r.check_by,
            recorded_at=as_utc(r.recorded_at),
            status=CommitmentStatus(r.status),
            checked_at=as_utc(r.checked_at) if r.checked_at else None,
            outcome=r.outcome,
        )
        for r in rows
    ]
