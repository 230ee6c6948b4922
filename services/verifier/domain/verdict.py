"""Verdicts: what a licence is worth at an instant, and whether the applicant is its holder.

Plain Python. The order of the checks is the policy: integrity first (a version whose
signature does not hold, or whose key is unknown or was not valid when it signed, cannot be
vouched for: CANNOT_CHECK), then the status, then the validity dates at the instant asked
about. Expiry is always computed, never stored. The status and the version answered are
those the licence's newest verified status statement attests (the licence store's reader
checks the chain): rows that disagree with it, or a chain that does not verify, make the
answer CANNOT_CHECK with a ``STATUS_*`` reason (:func:`attested`).
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from services.common.clock import china_date
from services.common.identifiers import HolderNumber
from services.licence_store.domain.effective import Effective, position
from services.licence_store.domain.licence import Status, Validity


class Verdict(enum.Enum):
    """The closed set of answers."""

    __hash__ = object.__hash__  # members are singletons: identity, not name (hot keys)

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    CANNOT_CHECK = "cannot_check"


class HolderMatch(enum.Enum):
    """Presented holder versus stored holder."""

    __hash__ = object.__hash__  # members are singletons: identity, not name (hot keys)

    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_PRESENTED = "not_presented"
    REFUSED = "refused"  # holder matching refused: the MISMATCH budget is spent


class Integrity(enum.Enum):
    """The outcome of checking a version's signature."""

    __hash__ = object.__hash__  # members are singletons: identity, not name (hot keys)

    VERIFIED = "SIGNATURE_VERIFIED"
    CONTENT_ALTERED = "CONTENT_ALTERED"  # stored content no longer hashes to what was signed
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    KEY_UNKNOWN = "ISSUER_KEY_UNKNOWN"
    KEY_NOT_VALID_AT_SIGNING = "ISSUER_KEY_NOT_VALID_AT_SIGNING"
    KEY_COMPROMISED = "ISSUER_KEY_COMPROMISED"


#: The checks every verdict of a stored licence applies, in order.
STANDARD_CHECKS: Final = ("signature", "issuer_key_period", "status", "validity_dates")


@dataclass(frozen=True)
class Decision:
    """A verdict and its machine-readable reason."""

    verdict: Verdict
    reason: str


# Decisions are values: the few possible ones are made once (the batch path decides often).
_CANNOT_CHECK: Final = {i: Decision(Verdict.CANNOT_CHECK, i.value) for i in Integrity}
_STATUS_VERDICTS: Final = {
    Status.SUSPENDED: Decision(Verdict.SUSPENDED, "STATUS_SUSPENDED"),
    Status.REVOKED: Decision(Verdict.REVOKED, "STATUS_REVOKED"),
    Status.CANCELLED: Decision(Verdict.CANCELLED, "STATUS_CANCELLED"),
}
_DATE_VERDICTS: Final = {
    Effective.EXPIRED: Decision(Verdict.EXPIRED, "VALIDITY_ENDED"),
    Effective.NOT_YET_VALID: Decision(Verdict.NOT_YET_VALID, "VALIDITY_NOT_STARTED"),
    Effective.VALID: Decision(Verdict.VALID, "ALL_CHECKS_PASSED"),
}


def decide(integrity: Integrity, status: Status, validity: Validity, at: datetime) -> Decision:
    """The verdict on a licence in ``status`` with ``validity``, at instant ``at``."""
    return decide_on(integrity, status, validity, china_date(at))


def decide_on(integrity: Integrity, status: Status, validity: Validity, day: date) -> Decision:
    """:func:`decide` for an instant whose calendar date in China is ``day``."""
    if integrity is not Integrity.VERIFIED:
        return _CANNOT_CHECK[integrity]
    if status in _STATUS_VERDICTS:
        return _STATUS_VERDICTS[status]
    return _DATE_VERDICTS[position(validity.valid_from, validity.valid_until, day)]


_STATUS_REFUSED: Final[dict[str, Decision]] = {}


def attested(decision: Decision, status_refusal: str) -> Decision:
    """``decision``, unless the licence's signed status could not be vouched for
    (``status_refusal``, a ``STATUS_*`` reason): then CANNOT_CHECK with that reason. A version
    whose own signature fails keeps its integrity reason (checked first)."""
    if not status_refusal or decision.verdict is Verdict.CANNOT_CHECK:
        return decision
    refused = _STATUS_REFUSED.get(status_refusal)
    if refused is None:
        refused = _STATUS_REFUSED.setdefault(
            status_refusal, Decision(Verdict.CANNOT_CHECK, status_refusal)
        )
    return refused


def not_found(reason: str = "NO_SUCH_LICENCE") -> Decision:
    """The verdict when the store has no such licence."""
    return Decision(Verdict.NOT_FOUND, reason)


def number_match(presented: HolderNumber | None, stored: HolderNumber) -> HolderMatch:
    """Whether a presented (already normalised) holder number is the stored one."""
    if presented is None:
        return HolderMatch.NOT_PRESENTED
    return HolderMatch.MATCH if presented.value == stored.value else HolderMatch.MISMATCH


def normal_name(name: str) -> str:
    """A name as compared: full-width and half-width forms, and spacing, are the same name to
    a person; so is case."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(folded.split()).casefold()


def name_match(presented: str, stored: str) -> HolderMatch:
    """Whether a presented holder name is the stored one (width, case and spaces aside)."""
    if not presented.strip():
        return HolderMatch.NOT_PRESENTED
    return (
        HolderMatch.MATCH if normal_name(presented) == normal_name(stored) else HolderMatch.MISMATCH
    )


@dataclass(frozen=True)
class StatusChange:
    """One point of a licence's status timeline."""

    at: datetime
    status: Status


def status_at(timeline: list[StatusChange], at: datetime) -> Status | None:
    """The stored status at instant ``at``; None before the licence was issued."""
    current: Status | None = None
    for change in timeline:
        if change.at > at:
            break
        current = change.status
    return current
