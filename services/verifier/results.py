"""What a verification is asked and what it answers: the values every part of the verifier
passes around (the batch path's :class:`Asked` and :class:`Answer`, the full path's
:class:`Presented` and :class:`Result`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple

from services.common.errors import InvalidArgument, YihaoError
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    mask_holder_number,
    mask_name,
    parse_holder_number,
)
from services.common.purpose import CASE_NUMBER_REQUIRED, PURPOSE_REQUIRED, why_in
from services.licence_store.domain.reading import LicenceRef
from services.licence_store.domain.stored import StoredLicence
from services.verifier.domain.verdict import (
    STANDARD_CHECKS,
    Decision,
    HolderMatch,
    Integrity,
    not_found,
)
from services.verifier.vetting import Vetted

EXISTENCE: Final = ("existence",)
#: A ``client_ref`` is echoed on its answer, so it is bounded like every other answer part.
MAX_CLIENT_REF: Final = 100
#: A malformed item's reason says why in at most this many characters.
MAX_REASON: Final = 200
WHY_REQUIRED: Final = (PURPOSE_REQUIRED, CASE_NUMBER_REQUIRED)


@dataclass(frozen=True)
class Presented:
    """What the applicant presented at the counter, and what the question is about."""

    holder_number: HolderNumber | None = None
    holder_name: str = ""
    as_of: datetime | None = None
    purpose: str = ""
    case_number: str = ""
    client_ref: str = ""
    consent_grant_id: str = ""  # the holder's consent the read was made under

    @property
    def why(self) -> dict[str, str]:
        """Purpose and case (and the consent grant, if any), for the access record."""
        why = {"purpose": self.purpose, "case_number": self.case_number}
        if self.consent_grant_id:
            why["consent_grant_id"] = self.consent_grant_id
        return why

    @classmethod
    def parse(
        cls,
        holder_number: str = "",
        holder_name: str = "",
        as_of: datetime | None = None,
        **context: str,
    ) -> Presented:
        """Validate what was presented (a bad holder number is the caller's error)."""
        number = (
            parse_holder_number(holder_number, "presented_holder_number")
            if holder_number.strip()
            else None
        )
        if len(holder_name) > 200:
            raise InvalidArgument.field(
                "presented_holder_name", "at most 200 characters", "TOO_LONG"
            )
        check_client_ref(context.get("client_ref", ""))
        person = number is not None and number.kind is HolderKind.PERSON
        why = why_in(context.pop("purpose", ""), context.pop("case_number", ""), required=person)
        return cls(
            number,
            holder_name,
            as_of,
            purpose=why.purpose,
            case_number=why.case_number,
            **context,
        )


@dataclass(frozen=True)
class Result:
    """One verification: the verdict and everything the answer and the receipt state."""

    decision: Decision
    number_match: HolderMatch
    name_match: HolderMatch
    checked_at: datetime
    as_of: datetime
    checks: tuple[str, ...]
    stored: StoredLicence | None = None
    integrity: Integrity | None = None
    type_name: str = ""
    issuer_name: str = ""
    asked: dict[str, Any] = field(default_factory=dict)
    client_ref: str = ""
    receipt_id: str = ""
    document_authentic: bool = False
    why: dict[str, str] = field(default_factory=dict)
    refusal: str = ""  # why holder matching was refused (HolderMatch.REFUSED)

    def answer(self) -> dict[str, Any]:
        """The receipt's record of this verification."""
        lic = self.stored.licence if self.stored else None
        return {
            "asked": self.asked,
            "as_of": self.as_of.isoformat(),
            "verdict": self.decision.verdict.value,
            "reason": self.decision.reason,
            "holder_number_match": self.number_match.value,
            "holder_name_match": self.name_match.value,
            "licence_id": self.stored.signed.licence_id if self.stored else "",
            "version": lic.version if lic else 0,
            "content_sha256": self.stored.signed.content_sha256 if self.stored else "",
            "policy": list(self.checks),
        }


@dataclass(frozen=True)
class ForwardedResult(Result):
    """A verification answered by the region that owns the licence (federation).

    ``wire`` is the peer's answer as it came (a serialised ``yihao.v1.Verification``), given
    back with this region's receipt id; the receipt records what the peer answered and cites
    the peer's receipt (its id and the SHA-256 of its signed body). ``matched_holder``: the
    presented holder number when the peer answered MATCH (this region's access record)."""

    region: str = ""
    wire: bytes = b""
    licence_id: str = ""
    version: int = 0
    content_sha256: str = ""
    peer_receipt_id: str = ""
    peer_receipt_sha256: str = ""
    matched_holder: HolderNumber | None = None

    def answer(self) -> dict[str, Any]:
        """The receipt's record: the peer's answer and the receipt it cited."""
        said = super().answer()
        said.update(
            licence_id=self.licence_id,
            version=self.version,
            content_sha256=self.content_sha256,
            peer={
                "region": self.region,
                "receipt_id": self.peer_receipt_id,
                "receipt_sha256": self.peer_receipt_sha256,
            },
        )
        return said


class Asked(NamedTuple):
    """One item as the caller sent it: plain values, validated by :meth:`BatchVerifier.prepare`."""

    licence_id: str = ""
    type_code: str = ""
    licence_number: str = ""
    holder_number: str = ""
    holder_name: str = ""
    purpose: str = ""
    case_number: str = ""
    client_ref: str = ""
    as_of: datetime | None = None
    by_number: bool = False  # named by type and number (else by licence_id)
    refused: YihaoError | None = None  # already found malformed where it was read

    @property
    def ref(self) -> LicenceRef:
        """The licence reference, as the store's read interface takes it."""
        if self.by_number:
            return LicenceRef(type_code=self.type_code, licence_number=self.licence_number)
        return LicenceRef(licence_id=self.licence_id)


class Answer(NamedTuple):
    """One item's verification on the fast path (``Result`` is the full path's)."""

    item: Asked
    holder: HolderNumber | None  # the presented holder number, parsed
    decision: Decision
    number_match: HolderMatch
    name_match: HolderMatch
    vetted: Vetted | None  # None: no such licence
    status_reason_code: str
    names: tuple[str, str]  # (licence type name, issuer name) from the catalogue
    refusal: str = ""  # why holder matching was refused (HolderMatch.REFUSED)

    @property
    def checks(self) -> tuple[str, ...]:
        """What was checked to reach the verdict."""
        return EXISTENCE if self.vetted is None else STANDARD_CHECKS


#: ``new_tuple(SomeNamedTuple, (every value, in order))``: the NamedTuple made without its
#: ``__new__``, which runs as interpreted Python (~0.2 µs more a call; the fast path makes
#: three an item).
new_tuple: Final = tuple.__new__


def new_asked(
    licence_id: str,
    holder_number: str,
    holder_name: str,
    purpose: str,
    case_number: str,
    client_ref: str,
) -> Asked:
    """``Asked(licence_id, "", "", holder_number, …, client_ref)``: named by licence id."""
    return new_tuple(
        Asked,
        (
            licence_id,
            "",
            "",
            holder_number,
            holder_name,
            purpose,
            case_number,
            client_ref,
            None,
            False,
            None,
        ),
    )


def new_answer(
    item: Asked,
    holder: HolderNumber | None,
    decision: Decision,
    number_match: HolderMatch,
    name_match: HolderMatch,
    vetted: Vetted | None,
    status_reason_code: str,
    names: tuple[str, str],
) -> Answer:
    """``Answer(item, holder, …, names)``, no refusal."""
    return new_tuple(
        Answer,
        (item, holder, decision, number_match, name_match, vetted, status_reason_code, names, ""),
    )


def malformed(exc: YihaoError, at: datetime, client_ref: str = "") -> Result:
    """The answer to a batch item that names nothing, or states no purpose or case for a
    person's number (its reason says why)."""
    if len(client_ref) > MAX_CLIENT_REF:
        client_ref = ""  # refused for its length: not echoed (the answer keeps its place)
    reasons = [v.reason for v in getattr(exc, "violations", ()) if v.reason in WHY_REQUIRED]
    kind = reasons[0] if reasons else "INVALID_REFERENCE"
    reason = f"{kind}: {exc}"
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 1] + "…"
    return Result(
        not_found(reason),
        HolderMatch.NOT_PRESENTED,
        HolderMatch.NOT_PRESENTED,
        checked_at=at,
        as_of=at,
        checks=("reference_format",),
        client_ref=client_ref,
        asked={"client_ref": client_ref} if client_ref else {},  # the receipt names it
    )


def presented_with(holder: HolderNumber | None, asked: Asked) -> Presented:
    """What was presented with a batch item (already validated)."""
    return Presented(
        holder,
        asked.holder_name,
        asked.as_of,
        purpose=asked.purpose,
        case_number=asked.case_number,
        client_ref=asked.client_ref,
    )


def asked_record(ref: LicenceRef, presented: Presented) -> dict[str, Any]:
    """What was asked, as a receipt records it (person numbers and names masked)."""
    asked: dict[str, Any] = _ref_json(ref)
    if presented.holder_number is not None:
        number = presented.holder_number
        asked["presented_holder_number"] = mask_holder_number(number.value, number.kind)
    if presented.holder_name.strip():
        asked["presented_holder_name"] = mask_name(presented.holder_name.strip())
    if presented.as_of is not None:
        asked["as_of"] = presented.as_of.isoformat()
    if presented.client_ref:
        asked["client_ref"] = presented.client_ref
    return asked


def _ref_json(ref: LicenceRef) -> dict[str, str]:
    if ref.licence_id:
        return {"licence_id": ref.licence_id}
    return {"type_code": ref.type_code, "licence_number": ref.licence_number}


def check_client_ref(client_ref: str) -> None:
    """Refuse a ``client_ref`` longer than :data:`MAX_CLIENT_REF` characters."""
    if len(client_ref) > MAX_CLIENT_REF:
        raise InvalidArgument.field(
            "client_ref", f"at most {MAX_CLIENT_REF} characters", "TOO_LONG"
        )
