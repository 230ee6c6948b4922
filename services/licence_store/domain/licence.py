"""The e-licence and its lifecycle: issue, change, renew, suspend, reinstate, revoke, cancel.

A licence has versions (its signed content: holder, data, validity) and a stored
administrative status that changes without a new version. "Expired" and "not yet valid" are
never stored: :meth:`Licence.effective_status` works them out from the validity dates at the
instant asked about, as a calendar date in China.

The state machine::

    ACTIVE ──suspend──▶ SUSPENDED ──reinstate──▶ ACTIVE
    ACTIVE | SUSPENDED ──revoke──▶ REVOKED    (terminal)
    ACTIVE | SUSPENDED ──cancel──▶ CANCELLED  (terminal)
    change: ACTIVE | SUSPENDED      renew: ACTIVE
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from services.common.clock import china_date
from services.common.dates import DATE_MAX
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.identifiers import HolderNumber
from services.common.licence_ids import LicenceIdentifier, mint_licence_identifier
from services.licence_store.domain.catalogue import LicenceType, check_text
from services.licence_store.domain.effective import Effective, position

FieldValue = str | int | bool


class Status(enum.Enum):
    """The stored administrative status."""

    __hash__ = object.__hash__  # members are singletons: identity, not name (hot keys)

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether no further transition is possible."""
        return self in (Status.REVOKED, Status.CANCELLED)


class EventKind(enum.Enum):
    """What happened to a licence."""

    ISSUED = "issued"
    CHANGED = "changed"
    RENEWED = "renewed"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    REVOKED = "revoked"
    CANCELLED = "cancelled"


class Action(enum.Enum):
    """A status change an operator asks for, with where it may start and where it ends."""

    SUSPEND = ("suspend", (Status.ACTIVE,), Status.SUSPENDED, EventKind.SUSPENDED)
    REINSTATE = ("reinstate", (Status.SUSPENDED,), Status.ACTIVE, EventKind.REINSTATED)
    REVOKE = ("revoke", (Status.ACTIVE, Status.SUSPENDED), Status.REVOKED, EventKind.REVOKED)
    CANCEL = ("cancel", (Status.ACTIVE, Status.SUSPENDED), Status.CANCELLED, EventKind.CANCELLED)

    def __init__(
        self, verb: str, sources: tuple[Status, ...], target: Status, event: EventKind
    ) -> None:
        self.verb = verb
        self.sources = sources
        self.target = target
        self.event = event


#: Where a change (a new version with other data) and a renewal may start; both keep the status.
CHANGE_SOURCES = (Status.ACTIVE, Status.SUSPENDED)
RENEW_SOURCES = (Status.ACTIVE,)

#: The coded reasons each action accepts. OTHER always needs words (reason_text).
REASON_CODES: dict[Action, frozenset[str]] = {
    Action.SUSPEND: frozenset(
        {"INVESTIGATION", "VIOLATION", "COURT_ORDER", "HOLDER_REQUEST", "OTHER"}
    ),
    Action.REINSTATE: frozenset(
        {"INVESTIGATION_CLOSED", "RECTIFIED", "COURT_ORDER", "SUSPENDED_IN_ERROR", "OTHER"}
    ),
    Action.REVOKE: frozenset({"VIOLATION", "FRAUD", "COURT_ORDER", "OTHER"}),
    Action.CANCEL: frozenset(
        {
            "HOLDER_REQUEST",
            "HOLDER_DECEASED",
            "HOLDER_DISSOLVED",
            "REPLACED",
            "ISSUED_IN_ERROR",
            "NOT_RENEWED",
            "OTHER",
        }
    ),
}

MAX_REASON_TEXT = 500


@dataclass(frozen=True)
class Reason:
    """A coded reason for a status change, checked against the action's closed list."""

    code: str
    text: str = ""

    @classmethod
    def stated(cls, text: str) -> Reason | None:
        """The free-text reason given for a change or a renewal (None when none was given);
        these carry no code, since no closed list of reasons applies to them."""
        text = check_text(text, "reason", MAX_REASON_TEXT, required=False)
        return cls("", text) if text else None

    @classmethod
    def for_action(cls, action: Action, code: str, text: str) -> Reason:
        """Validate ``code`` (and ``text``) for ``action``."""
        code = code.strip().upper()
        allowed = REASON_CODES[action]
        if code not in allowed:
            raise InvalidArgument.field(
                "reason_code",
                f"{code or '(empty)'} is not a reason to {action.verb}; "
                f"one of {', '.join(sorted(allowed))}",
                "REASON_CODE",
            )
        text = check_text(text, "reason_text", MAX_REASON_TEXT, required=code == "OTHER")
        return cls(code, text)


@dataclass(frozen=True)
class Event:
    """One entry of a licence's append-only history."""

    kind: EventKind
    version: int
    at: datetime
    actor_code: str
    status_after: Status
    reason: Reason | None = None
    #: The staff member the acting department said acted (its assertion; None: not said).
    staff: str | None = None


@dataclass(frozen=True)
class Validity:
    """A validity period in calendar dates (China time), both ends inclusive."""

    valid_from: date
    valid_until: date | None

    def __post_init__(self) -> None:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise InvalidArgument.field(
                "valid_until",
                f"{self.valid_until} is before valid_from {self.valid_from}",
                "DATE_ORDER",
            )

    @classmethod
    def starting(cls, start: date, days: int, until: date | None = None) -> Validity:
        """From ``start``, until ``until`` or for ``days`` (0 = no expiry)."""
        if until is None and days:
            until = _days_after(start, days - 1, "valid_from")
        return cls(start, until)

    def position(self, day: date) -> Effective:
        """VALID, EXPIRED or NOT_YET_VALID on ``day``."""
        return position(self.valid_from, self.valid_until, day)


def _days_after(day: date, days: int, field: str) -> date:
    """``day`` + ``days``, or INVALID_ARGUMENT when that is past the last date a licence may
    carry (:data:`~services.common.dates.DATE_MAX`)."""
    if (DATE_MAX - day).days < days:
        raise InvalidArgument.field(
            field, f"{day} plus {days} days is beyond {DATE_MAX}", "DATE_RANGE"
        )
    return day + timedelta(days=days)


def new_serial(at: datetime) -> str:
    """A fresh serial for an e-licence identifier: the year (in China) and 80 random bits."""
    return f"{china_date(at).year:04d}{secrets.token_hex(10).upper()}"


@dataclass
class Licence:
    """An e-licence: its current version's content plus its administrative status."""

    type_code: str
    issuer_code: str
    serial: str
    licence_number: str
    holder: HolderNumber
    holder_name: str
    fields: dict[str, FieldValue]
    validity: Validity
    version: int
    status: Status
    issued_at: datetime
    version_at: datetime
    status_at: datetime
    status_reason: Reason | None = None
    salt: str = ""  # random, secret, signed: keeps the content hash from revealing the holder
    pending_events: list[Event] = field(default_factory=list, repr=False, compare=False)

    # ------------------------------------------------------------------ identity and content

    @property
    def identifier(self) -> LicenceIdentifier:
        """The e-licence identifier of the current version (parts validated at issue)."""
        return LicenceIdentifier(self.type_code, self.issuer_code, self.serial, self.version)

    def content(self) -> dict[str, object]:
        """The current version's content: what the issuer signs (as RFC 8785 JSON)."""
        return {
            "licence_id": str(self.identifier),
            "type_code": self.type_code,
            "licence_number": self.licence_number,
            "issuer_code": self.issuer_code,
            "holder": {
                "kind": self.holder.kind.value,
                "number": self.holder.value,
                "name": self.holder_name,
            },
            "fields": dict(sorted(self.fields.items())),
            "valid_from": self.validity.valid_from.isoformat(),
            "valid_until": self.validity.valid_until.isoformat()
            if self.validity.valid_until
            else None,
            "version": self.version,
            "version_at": self.version_at.isoformat(),
            **({"salt": self.salt} if self.salt else {}),
        }

    def effective_status(self, at: datetime) -> Effective:
        """The status at instant ``at``: stored status first, then the validity dates."""
        if self.status is not Status.ACTIVE:
            return Effective(self.status.value)
        return self.validity.position(china_date(at))

    # ------------------------------------------------------------------------- lifecycle

    @classmethod
    def issue(
        cls,
        *,
        licence_type: LicenceType,
        issuer_code: str,
        licence_number: str,
        holder: HolderNumber,
        holder_name: str,
        data: Mapping[str, str],
        valid_from: date | None,
        valid_until: date | None,
        at: datetime,
        staff: str | None = None,
    ) -> Licence:
        """Issue a new licence of ``licence_type`` (validation of every input included);
        ``staff``: who the issuing department says acted, recorded on the event."""
        number = check_text(licence_number, "licence_number", 64)
        if holder.kind is not licence_type.holder_kind:
            raise InvalidArgument.field(
                "holder.number",
                f"{licence_type.name} is held by a {licence_type.holder_kind.value}, "
                f"this is a {holder.kind.value}'s number",
                "HOLDER_KIND",
            )
        name = check_text(holder_name, "holder.name", 200)
        values = licence_type.validate_data(data)
        start = valid_from or china_date(at)
        validity = Validity.starting(start, licence_type.default_validity_days, valid_until)
        ident = mint_licence_identifier(licence_type.type_code, issuer_code, new_serial(at), 1)
        licence = cls(
            type_code=ident.type_code,
            issuer_code=ident.issuer_code,
            serial=ident.serial,
            licence_number=number,
            holder=holder,
            holder_name=name,
            fields=values,
            validity=validity,
            version=1,
            status=Status.ACTIVE,
            issued_at=at,
            version_at=at,
            status_at=at,
            salt=secrets.token_hex(16),
        )
        licence._record(EventKind.ISSUED, at, issuer_code, staff=staff)
        return licence

    def change(
        self,
        licence_type: LicenceType,
        data: Mapping[str, str],
        holder_name: str,
        actor_code: str,
        at: datetime,
        reason: str = "",
        staff: str | None = None,
    ) -> None:
        """A new version with changed data and/or holder name (all checked before any change);
        ``reason``, if given, and ``staff`` (who the department says acted) go on the event."""
        self._require(("change",), CHANGE_SOURCES)
        self._require_version_room()
        updates = licence_type.validate_data(data, partial=True)
        name = check_text(holder_name, "holder_name", 200, required=False)
        stated = Reason.stated(reason)
        if not updates and not name:
            raise InvalidArgument.field("fields", "nothing to change", "EMPTY_CHANGE")
        merged = {**self.fields, **updates}
        self.fields = {k: v for k, v in merged.items() if v != ""}
        self.holder_name = name or self.holder_name
        self._new_version(EventKind.CHANGED, actor_code, at, stated, staff)

    def renew(
        self,
        valid_until: date | None,
        days: int,
        actor_code: str,
        at: datetime,
        reason: str = "",
        staff: str | None = None,
    ) -> None:
        """A new version with a validity period ending at ``valid_until`` (or ``days`` on);
        ``reason``, if given, and ``staff`` (who the department says acted) go on the event."""
        self._require(("renew",), RENEW_SOURCES)
        self._require_version_room()
        stated = Reason.stated(reason)
        current_end = self.validity.valid_until
        if current_end is None:
            raise FailedPrecondition(
                f"licence {self.identifier} has no end of validity; there is nothing to renew",
                reason="NO_EXPIRY",
            )
        if valid_until is None:
            if not days:
                raise InvalidArgument.field(
                    "valid_until",
                    "is required: this licence type has no default validity",
                    "REQUIRED",
                )
            # The new period runs on from the current end, or from today if it has lapsed.
            start = max(_days_after(current_end, 1, "valid_until"), china_date(at))
            valid_until = _days_after(start, days - 1, "valid_until")
        if valid_until <= current_end:
            raise InvalidArgument.field(
                "valid_until",
                f"{valid_until} does not extend the current end {current_end}",
                "NOT_LATER",
            )
        self.validity = replace(self.validity, valid_until=valid_until)
        self._new_version(EventKind.RENEWED, actor_code, at, stated, staff)

    def apply(
        self,
        action: Action,
        reason: Reason,
        actor_code: str,
        at: datetime,
        staff: str | None = None,
    ) -> None:
        """Suspend, reinstate, revoke or cancel, if the state machine allows it; ``staff``
        (who the department says acted) goes on the event."""
        self._require((action.verb,), action.sources)
        self.status = action.target
        self.status_reason = reason
        self.status_at = at
        self._record(action.event, at, actor_code, reason, staff)

    def take_events(self) -> list[Event]:
        """The events recorded since the last call (the repository persists them)."""
        events, self.pending_events = self.pending_events, []
        return events

    # ------------------------------------------------------------------------- internals

    def _require(self, verbs: tuple[str, ...], allowed: tuple[Status, ...]) -> None:
        if self.status not in allowed:
            raise FailedPrecondition(
                f"cannot {verbs[0]} licence {self.identifier}: it is {self.status.value.upper()}"
                f" (allowed from {', '.join(s.value.upper() for s in allowed)})",
                reason="ILLEGAL_TRANSITION",
                metadata={"current_status": self.status.value.upper()},
            )

    def _require_version_room(self) -> None:
        if self.version >= 999:
            raise FailedPrecondition(
                "licence has reached version 999, the most an identifier can carry",
                reason="VERSION_LIMIT",
            )

    def _new_version(
        self,
        kind: EventKind,
        actor_code: str,
        at: datetime,
        reason: Reason | None = None,
        staff: str | None = None,
    ) -> None:
        self.version += 1
        self.version_at = at
        self._record(kind, at, actor_code, reason, staff)

    def _record(
        self,
        kind: EventKind,
        at: datetime,
        actor: str,
        reason: Reason | None = None,
        staff: str | None = None,
    ) -> None:
        event = Event(kind, self.version, at, actor, self.status, reason, staff)
        self.pending_events.append(event)
