"""Consent (授权用证): a holder lets one department use named licences for one matter.

A :class:`ConsentGrant` is given by the holder through the holder portal (which authenticated
the person): a department, the licence types it may read (or one licence), the matter (a
service or assistance item code and/or a case number) and an expiry no later than the
configured maximum. The portal signs it with the grant's own id inside what is signed, so a
grant cannot be copied under another id or edited in the database without failing the check.

Licence types and assistance items may be marked *consent required*: a read of such data by
holder number then needs a grant that :func:`refusal` finds nothing wrong with. The holder's
side learns the exact reason a grant does not authorise a read; the department's side gets
one answer for all of them (:func:`consent_required`), decided before anything is read, so it
tells nothing about whether the person holds such a licence.

Plain Python: no grpc, no SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from services.common.canonical import canonical_json, sha256_hex
from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.common.evidence import Entry
from services.licence_store.domain.catalogue import LicenceType

#: Department-side refusal reason (one for every kind of invalid or missing grant).
CONSENT_REQUIRED = "CONSENT_REQUIRED"
#: Holder-side reasons.
VALID = "CONSENT_VALID"
NOT_FOUND = "CONSENT_NOT_FOUND"
EXPIRED = "CONSENT_EXPIRED"
REVOKED = "CONSENT_REVOKED"
WRONG_DEPARTMENT = "CONSENT_WRONG_DEPARTMENT"
WRONG_MATTER = "CONSENT_WRONG_MATTER"
WRONG_TYPE = "CONSENT_WRONG_TYPE"
WRONG_HOLDER = "CONSENT_WRONG_HOLDER"
SIGNATURE_INVALID = "CONSENT_SIGNATURE_INVALID"
#: The outcome of a use that a grant authorised.
USED = "USED"

#: Log entry kinds: a grant (its signed body and signature) and its revocation.
GRANT_KIND = "consent_grant"
REVOKE_KIND = "consent_revoked"
MAX_TYPES = 20
MAX_ITEM_CODE = 64
MAX_CASE_NUMBER = 64
GRANT_ID_PREFIX = "CG"


class ConsentState(Enum):
    """A grant's state at an instant (expiry is a function of time, never stored)."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Matter:
    """What a read is for: a service (or assistance) item code and/or a case number."""

    item_code: str = ""
    case_number: str = ""


@dataclass(frozen=True)
class ConsentGrant:
    """One holder's consent, as stored and signed."""

    grant_id: str
    holder_key: str  # the holder's blind index
    holder_masked: str  # the holder number masked (for listings)
    holder_kind: str
    department_code: str
    type_codes: tuple[str, ...]
    licence_id: str  # "" unless the grant is for one licence
    licence_serial: str  # the licence's serial when it is
    item_code: str
    case_number: str
    granted_at: datetime
    expires_at: datetime
    portal_code: str
    revoked_at: datetime | None = None
    key_id: str = ""
    signature: bytes = b""
    granted_by: str = ""  # an organisation's grant: its representative's ID number, masked
    revoked_by: str = ""  # and who revoked it, masked

    def state(self, now: datetime) -> ConsentState:
        """Revoked, expired or active at ``now``."""
        if self.revoked_at is not None and self.revoked_at <= now:
            return ConsentState.REVOKED
        if now >= self.expires_at:
            return ConsentState.EXPIRED
        return ConsentState.ACTIVE

    def body(self) -> dict[str, object]:
        """What the portal signs: every term of the grant, its own id included, and for an
        organisation's grant made by a named representative, who (masked)."""
        by = {"granted_by": self.granted_by} if self.granted_by else {}
        return by | {
            "grant_id": self.grant_id,
            "holder_key": self.holder_key,
            "holder_kind": self.holder_kind,
            "department_code": self.department_code,
            "type_codes": list(self.type_codes),
            "licence_id": self.licence_id,
            "licence_serial": self.licence_serial,
            "item_code": self.item_code,
            "case_number": self.case_number,
            "granted_at": self.granted_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "portal_code": self.portal_code,
        }


def grant_entry(grant: ConsentGrant) -> Entry:
    """The log entry of a grant: its signed body and the portal's signature."""
    digest = sha256_hex(canonical_json(grant.body()) + b"." + grant.signature)
    return Entry(GRANT_KIND, grant.grant_id, digest)


def revocation_entry(grant: ConsentGrant) -> Entry:
    """The log entry of a grant's revocation (when it took effect)."""
    assert grant.revoked_at is not None
    body = {"grant_id": grant.grant_id, "revoked_at": grant.revoked_at.isoformat()}
    if grant.revoked_by:
        body["revoked_by"] = grant.revoked_by
    return Entry(REVOKE_KIND, grant.grant_id, sha256_hex(canonical_json(body)))


@dataclass(frozen=True)
class ConsentPass:
    """What a read by holder number may include of consent-required data (the gate's answer,
    decided before anything of the holder is read)."""

    grant_id: str = ""  # the grant the read uses ("" when none)
    covered: frozenset[str] = frozenset()  # consent-required types the grant covers
    left_out: frozenset[str] = frozenset()  # consent-required types not covered: left out
    licence_serial: str = ""  # a grant for one licence covers only it

    def admits(self, type_code: str, serial: str) -> bool:
        """Whether a licence of ``type_code`` (``serial``) may be part of the answer."""
        if type_code in self.left_out:
            return False
        if type_code in self.covered and self.licence_serial:
            return serial == self.licence_serial
        return True

    @property
    def note(self) -> str:
        """What an access record adds to name the grant it was read under."""
        return f" under consent {self.grant_id}" if self.grant_id else ""


def refusal(
    grant: ConsentGrant | None,
    *,
    holder_key: str,
    department_code: str,
    type_code: str,
    matter: Matter,
    now: datetime,
) -> str:
    """Why ``grant`` does not authorise ``department_code`` to read ``type_code`` of the
    holder for ``matter`` ("" when it does). The order puts the holder's own facts first:
    a grant of another holder is NOT_FOUND to this one."""
    if grant is None:
        return NOT_FOUND
    if grant.holder_key != holder_key:
        return WRONG_HOLDER
    state = grant.state(now)
    if state is ConsentState.REVOKED:
        return REVOKED
    if state is ConsentState.EXPIRED:
        return EXPIRED
    if grant.department_code != department_code:
        return WRONG_DEPARTMENT
    if not matter_matches(grant, matter):
        return WRONG_MATTER
    if type_code and type_code not in grant.type_codes:
        return WRONG_TYPE
    return ""


def matter_matches(grant: ConsentGrant, matter: Matter) -> bool:
    """Whether a read's matter is the grant's: every part the grant names must be the same."""
    if grant.item_code and grant.item_code != matter.item_code.strip():
        return False
    return not grant.case_number or grant.case_number == matter.case_number.strip()


def consent_required(type_codes: Iterable[str]) -> PermissionDenied:
    """The department's refusal: the same code, reason and message whatever was wrong (no
    grant, an unknown one, another holder's, expired, revoked, another department's, another
    matter's or type's), naming only what the caller asked."""
    codes = sorted(set(type_codes))
    return PermissionDenied(
        "reading these licences by holder number needs the holder's consent for this "
        "department and matter (a valid consent_grant_id)",
        reason=CONSENT_REQUIRED,
        metadata={"type_codes": ",".join(codes)},
    )


def needs_consent(lt: LicenceType, caller_code: str, holder_portal: bool) -> bool:
    """Whether ``caller_code`` needs a grant to read ``lt`` by holder number: the type is
    marked consent required and the caller is neither one of its issuers nor the portal."""
    return lt.consent_required and not holder_portal and not lt.may_issue(caller_code)


def check_terms(
    type_codes: Sequence[str],
    licence_id: str,
    item_code: str,
    case_number: str,
    expires_at: datetime | None,
    now: datetime,
    max_days: int,
    valid_days: int = 0,
) -> None:
    """Refuse a grant's terms that are missing or out of bounds, every problem at once
    (the expiry is ``expires_at``, or ``valid_days`` from ``now``)."""
    violations: list[FieldViolation] = []
    if bool(type_codes) == bool(licence_id.strip()):
        violations.append(
            FieldViolation("type_codes", "name licence types or one licence_id, not both", "SCOPE")
        )
    if len(type_codes) > MAX_TYPES:
        violations.append(FieldViolation("type_codes", f"at most {MAX_TYPES}", "TOO_MANY"))
    violations += _text_violations("item_code", item_code, MAX_ITEM_CODE)
    violations += _text_violations("case_number", case_number, MAX_CASE_NUMBER)
    if not item_code.strip() and not case_number.strip():
        violations.append(
            FieldViolation(
                "item_code", "name the matter: an item code and/or a case number", "MATTER"
            )
        )
    violations += _expiry_violations(expires_at, now, max_days, valid_days)
    if violations:
        raise InvalidArgument(violations=violations)


def _text_violations(name: str, value: str, maximum: int) -> list[FieldViolation]:
    text = value.strip()
    if len(text) > maximum:
        return [FieldViolation(name, f"at most {maximum} characters", "TOO_LONG")]
    if any(ord(c) < 32 for c in text):
        return [FieldViolation(name, "must not contain control characters", "CHARACTER_SET")]
    return []


def _expiry_violations(
    expires_at: datetime | None, now: datetime, max_days: int, valid_days: int = 0
) -> list[FieldViolation]:
    name = "valid_days" if valid_days and expires_at is None else "expires_at"
    if expires_at is None and valid_days:
        if valid_days < 0:
            return [FieldViolation(name, "must be a positive number of days", "OUT_OF_RANGE")]
        if valid_days > max_days:
            return [_too_long(name, max_days)]
        return []
    if expires_at is None:
        return [
            FieldViolation(
                "expires_at", "is required (or valid_days): when the consent ends", "REQUIRED"
            )
        ]
    if valid_days:
        return [FieldViolation("valid_days", "give expires_at or valid_days, not both", "BOTH")]
    if expires_at <= now:
        return [FieldViolation(name, "must be in the future", "IN_THE_PAST")]
    if expires_at - now > timedelta(days=max_days):
        return [_too_long(name, max_days)]
    return []


def _too_long(name: str, max_days: int) -> FieldViolation:
    return FieldViolation(
        name,
        f"a consent lasts at most {max_days} days (YIHAO_CONSENT_MAX_DAYS)",
        "CONSENT_TOO_LONG",
    )
