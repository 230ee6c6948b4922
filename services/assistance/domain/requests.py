"""Assistance requests: submitted against an item, answered or refused within the time limit.

    PENDING ──answer──▶ ANSWERED
    PENDING ──refuse (on a ground the item lists)──▶ REFUSED
    PENDING ──urge (催办)──▶ PENDING, urging recorded

Overdue is never stored: a request is overdue when it is still pending after its deadline,
or was decided after it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.common.canonical import canonical_json, sha256_hex
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.evidence import Entry
from services.common.identifiers import HolderNumber, mask_holder_number, mask_name
from services.common.ids import time_ordered_id
from services.common.purpose import CASE_NUMBER_REQUIRED
from services.licence_store.domain.catalogue import check_text


class RequestStatus(enum.Enum):
    """Where a request stands."""

    PENDING = "pending"
    ANSWERED = "answered"
    REFUSED = "refused"


@dataclass(frozen=True)
class Urging:
    """One 催办: who urged, when, with what note."""

    by_code: str
    at: datetime
    note: str = ""


def _overdue(
    status: RequestStatus, deadline: datetime, decided_at: datetime | None, now: datetime
) -> bool:
    if status is RequestStatus.PENDING:
        return now > deadline
    return decided_at is not None and decided_at > deadline


@dataclass(frozen=True)
class Outcome:
    """What supervision needs to know of a request: no holder, no data, no words."""

    provider_code: str
    status: RequestStatus
    submitted_at: datetime
    deadline: datetime
    decided_at: datetime | None
    refusal_ground: str
    urgings: int
    deadline_provisional: bool = False

    def overdue(self, now: datetime) -> bool:
        """Pending past the deadline, or decided after it."""
        return _overdue(self.status, self.deadline, self.decided_at, now)


def new_request_id(at: datetime) -> str:
    """``A`` + the instant (China time) + 64 random bits; sorts by time."""
    return time_ordered_id("A", at)


#: What a decision's signed statement says it is.
DECISION_TYPE = "yihao.assistance-decision.v1"


@dataclass(frozen=True)
class DecisionSeal:
    """A decision's signed statement: the canonical bytes signed, the signature, the key."""

    body: bytes
    signature: bytes
    key_id: str


@dataclass
class AssistanceRequest:
    """One request for assistance."""

    request_id: str
    item_code: str
    requester_code: str
    provider_code: str
    holder: HolderNumber
    purpose: str
    legal_basis: str
    case_number: str
    requested_fields: tuple[str, ...]
    submitted_at: datetime
    deadline: datetime
    status: RequestStatus = RequestStatus.PENDING
    decided_at: datetime | None = None
    answer: dict[str, str] = field(default_factory=dict)
    refusal_ground: str = ""
    refusal_explanation: str = ""
    urgings: list[Urging] = field(default_factory=list)
    version: int = 1
    #: The deadline was counted over a year with no published calendar configured.
    deadline_provisional: bool = False
    #: The item's time limit when the request was submitted (0: not recorded, before 0011).
    time_limit_working_days: int = 0
    #: The decision's signed statement (None: undecided, or decided before 0017).
    seal: DecisionSeal | None = None
    #: The requester's staff member who submitted it, as the requester said (None: not said;
    #: before 0018). The access record of its answer names them, whenever it comes.
    requester_staff: str | None = None
    #: The requester's region when it is a peer region's department (federation; "" here).
    requester_region: str = ""

    def overdue(self, now: datetime) -> bool:
        """Pending past the deadline, or decided after it."""
        return _overdue(self.status, self.deadline, self.decided_at, now)

    def outcome(self) -> Outcome:
        """This request as supervision sees it."""
        return Outcome(
            self.provider_code,
            self.status,
            self.submitted_at,
            self.deadline,
            self.decided_at,
            self.refusal_ground,
            len(self.urgings),
        )

    def settle_deadline(self, official: datetime) -> bool:
        """Replace a provisional deadline by the one counted on the published calendar; the
        request keeps the deadline it was promised unless the official one is later. True
        when anything changed."""
        if not self.deadline_provisional:
            return False
        self.deadline = max(self.deadline, official)
        self.deadline_provisional = False
        self.version += 1
        return True

    def answer_with(self, data: Mapping[str, str], at: datetime) -> None:
        """Answer with ``data`` (already reduced to the granted fields)."""
        self._require_pending("answer")
        self.status = RequestStatus.ANSWERED
        self.answer = dict(data)
        self.decided_at = at
        self.version += 1

    def refuse(self, ground: str, explanation: str, at: datetime) -> None:
        """Refuse on ``ground`` (checked against the item by the caller) with an explanation."""
        self._require_pending("refuse")
        self.status = RequestStatus.REFUSED
        self.refusal_ground = ground
        self.refusal_explanation = check_text(explanation, "explanation", 1000)
        self.decided_at = at
        self.version += 1

    def urge(self, by_code: str, note: str, at: datetime) -> None:
        """Record a 催办."""
        self._require_pending("urge")
        self.urgings.append(Urging(by_code, at, check_text(note, "note", 500, required=False)))
        self.version += 1

    def _require_pending(self, verb: str) -> None:
        if self.status is not RequestStatus.PENDING:
            raise FailedPrecondition(
                f"cannot {verb} request {self.request_id}: it is {self.status.value.upper()}",
                reason="REQUEST_NOT_PENDING",
                metadata={"current_status": self.status.value.upper()},
            )


def check_case(purpose: str, legal_basis: str, case_number: str) -> tuple[str, str, str]:
    """The request's own texts, stripped and bounded; every request names its case (the
    holder's access record keeps it; the item's conditions require the purpose)."""
    if not case_number.strip():
        raise InvalidArgument.field(
            "case_number",
            "is required to read a person's data: state the case it is read for",
            CASE_NUMBER_REQUIRED,
        )
    return (
        check_text(purpose, "purpose", 200, required=False),
        check_text(legal_basis, "legal_basis", 500, required=False),
        check_text(case_number, "case_number", 64),
    )


def mask_value(value: str) -> str:
    """A sensitive value as shown to someone not granted it whole."""
    text = value.strip()
    if len(text) in (15, 18) and text[:-1].isdigit():
        return mask_holder_number(text)
    if len(text) <= 1:
        return "*" if text else ""
    return mask_name(text) if len(text) <= 4 else text[:2] + "*" * (len(text) - 2)


def minimal_answer(
    values: Mapping[str, str],
    granted: tuple[str, ...],
    sensitive: frozenset[str],
    unmasked: tuple[str, ...],
) -> dict[str, str]:
    """Exactly the granted fields; sensitive ones masked unless granted unmasked."""
    unknown = [f for f in values if f not in granted]
    if unknown:
        raise InvalidArgument.field(
            "data", f"{', '.join(sorted(unknown))} not granted by the item", "FIELDS_NOT_GRANTED"
        )
    return {
        f: (mask_value(v) if f in sensitive and f not in unmasked else v)
        for f, v in values.items()
        if f in granted
    }


def decision_payload(r: AssistanceRequest, holder_index: str) -> dict[str, object]:
    """A decided request as the tamper-evident log commits to it (through its hash); the
    holder by blind index, so the hash cannot be used to guess the number."""
    return {
        "request_id": r.request_id,
        "item_code": r.item_code,
        "requester": r.requester_code,
        "provider": r.provider_code,
        "holder": holder_index,
        "case_number": r.case_number,
        "requested_fields": list(r.requested_fields),
        "status": r.status.value,
        "answer": dict(sorted(r.answer.items())),
        "refusal_ground": r.refusal_ground,
        "refusal_explanation": r.refusal_explanation,
        "decided_at": r.decided_at.isoformat() if r.decided_at else "",
    }


class HolderIndex(Protocol):
    """What a decision's log entry needs of the holder vault: a holder number's blind index."""

    def index(self, holder: HolderNumber) -> str:
        """The blind index of ``holder`` (never the number itself)."""
        ...


def decision_body(r: AssistanceRequest, holder_index: str) -> bytes:
    """What a decision's signature covers: its own request id, the parties, what was decided
    and when, the hash of the answer as given, and the hash of the whole decision as logged
    before decisions were signed (which binds the holder, by blind index, and the case)."""
    payload = canonical_json(decision_payload(r, holder_index), plain=True)
    return canonical_json(
        {
            "type": DECISION_TYPE,
            "request_id": r.request_id,
            "item_code": r.item_code,
            "requester": r.requester_code,
            **({"requester_region": r.requester_region} if r.requester_region else {}),
            "provider": r.provider_code,
            "status": r.status.value,
            "decided_at": r.decided_at.isoformat() if r.decided_at else "",
            "answer_sha256": answer_sha256(r.answer),
            "refusal_ground": r.refusal_ground,
            "payload_sha256": sha256_hex(payload),
        },
        plain=True,
    )


def answer_sha256(answer: Mapping[str, str]) -> str:
    """The hash of an answer as given (field → value, the values as the requester sees them)."""
    return sha256_hex(canonical_json(dict(sorted(answer.items())), plain=True))


def decision_entry(r: AssistanceRequest, vault: HolderIndex) -> Entry:
    """The log entry for a decision (answer or refusal). A signed decision's entry commits to
    its signed statement and signature (which name its id), as a receipt's does; one made
    before decisions were signed commits to its content."""
    if r.seal is not None:
        sealed = {
            "body": r.seal.body.decode("utf-8"),
            "signature": r.seal.signature.hex(),
            "key_id": r.seal.key_id,
        }
        return Entry(
            "assistance_decision", r.request_id, sha256_hex(canonical_json(sealed, plain=True))
        )
    payload = canonical_json(decision_payload(r, vault.index(r.holder)), plain=True)
    return Entry("assistance_decision", r.request_id, sha256_hex(payload))
