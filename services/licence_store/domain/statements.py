"""Status statements: every lifecycle act, signed by the issuing department, chained per licence.

A licence's content is signed with each version; its *status* is signed too, as a chain of
statements. Each lifecycle act (issue, change, renew, suspend, reinstate, revoke, cancel)
yields one :class:`StatusStatement` covering the licence (type, issuer, serial), the version
and that version's content hash, the resulting status, the validity dates, the reason code,
the instant, a sequence number (1, 2, 3 … per licence) and the hash of the previous
statement. A store migrated from before signed status starts its chains with one ATTESTED
statement (see docs/security.md for what that proves).

The signed bytes are the statement's RFC 8785 canonical JSON (``services.common.canonical``), and a
stored statement is kept as exactly those bytes: what is verified is what was signed, with no
column types in between. Plain Python: the signer is passed in (:class:`Signer`), and
checking signatures is :mod:`~services.licence_store.domain.status_chain`'s caller's business.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol

from services.common.canonical import canonical_json
from services.licence_store.domain.licence import (
    CHANGE_SOURCES,
    REASON_CODES,
    RENEW_SOURCES,
    Action,
    EventKind,
    Licence,
    Status,
    Validity,
)

#: The "previous statement" hash of a chain's first statement.
GENESIS = "0" * 64
#: What a statement's body says it is (a body of another shape is refused).
STATEMENT_TYPE = "yihao.licence-status.v1"


class Act(enum.Enum):
    """The lifecycle act a statement records (ATTESTED: the state a migration found)."""

    ISSUED = "issued"
    CHANGED = "changed"
    RENEWED = "renewed"
    SUSPENDED = "suspended"
    REINSTATED = "reinstated"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    ATTESTED = "attested"


#: The status acts, as the lifecycle's actions (their sources, target and reason codes).
ACTIONS: dict[Act, Action] = {
    Act.SUSPENDED: Action.SUSPEND,
    Act.REINSTATED: Action.REINSTATE,
    Act.REVOKED: Action.REVOKE,
    Act.CANCELLED: Action.CANCEL,
}
#: The acts that make a new version, and where each may start.
VERSION_ACTS: dict[Act, tuple[Status, ...]] = {
    Act.CHANGED: CHANGE_SOURCES,
    Act.RENEWED: RENEW_SOURCES,
}


def act_of(kind: EventKind) -> Act:
    """The act a licence event records."""
    return Act(kind.value)


@dataclass(frozen=True)
class Link:
    """Where a chain stands: its newest statement's sequence number and digest."""

    sequence: int
    digest: str


class Signer(Protocol):
    """A department's signing key, as far as statements need it."""

    key_id: str
    algorithm: str

    def sign(self, data: bytes) -> bytes:
        """The signature over ``data``."""
        ...


@dataclass(frozen=True, slots=True)
class LicenceState:
    """What a licence is at one point: which licence, which version (and its content hash),
    its status and its validity. A statement attests one; a store's row claims one."""

    type_code: str
    issuer_code: str
    serial: str
    version: int
    content_sha256: str
    status: Status
    validity: Validity

    @classmethod
    def of(cls, licence: Licence, content_sha256: str) -> LicenceState:
        """The state of ``licence`` as it is now (``content_sha256``: its current version's)."""
        return cls(
            licence.type_code,
            licence.issuer_code,
            licence.serial,
            licence.version,
            content_sha256,
            licence.status,
            licence.validity,
        )


@dataclass(frozen=True)
class StatusStatement:
    """One signed statement of a licence's status chain.

    ``body`` is the canonical JSON that was signed (built by :meth:`draft` + :meth:`signed`,
    or read back by :meth:`parse`); ``digest`` is its SHA-256, which the next statement names.
    """

    state: LicenceState
    act: Act
    sequence: int
    reason_code: str
    at: datetime
    prev_sha256: str
    attested_at: datetime | None = None  # a migration's re-signing of an earlier act
    key_id: str = ""
    algorithm: str = ""
    signature: bytes = b""
    body: bytes = field(default=b"", repr=False)

    # ------------------------------------------------------------------------ making

    @classmethod
    def draft(
        cls,
        previous: StatusStatement | Link | None,
        state: LicenceState,
        act: Act,
        at: datetime,
        reason_code: str = "",
        attested_at: datetime | None = None,
    ) -> StatusStatement:
        """The unsigned statement that follows ``previous`` (None: the first of a chain).

        ``attested_at`` is for a migration only: the instant it signs a statement of an act
        done at ``at``, before statuses were signed."""
        return cls(
            state=state,
            act=act,
            sequence=previous.sequence + 1 if previous else 1,
            reason_code=reason_code,
            at=at,
            prev_sha256=previous.digest if previous else GENESIS,
            attested_at=attested_at,
        )

    def signed(self, signer: Signer) -> StatusStatement:
        """This statement signed by ``signer`` (its key id and algorithm are signed too)."""
        named = replace(self, key_id=signer.key_id, algorithm=signer.algorithm, body=b"")
        body = canonical(named.content())
        return replace(named, body=body, signature=signer.sign(body))

    def content(self) -> dict[str, Any]:
        """The statement as a JSON value (what :func:`canonical` serialises and is signed)."""
        s = self.state
        return {
            "type": STATEMENT_TYPE,
            "type_code": s.type_code,
            "issuer_code": s.issuer_code,
            "serial": s.serial,
            "sequence": self.sequence,
            "act": self.act.value,
            "version": s.version,
            "content_sha256": s.content_sha256,
            "status": s.status.value,
            "valid_from": s.validity.valid_from.isoformat(),
            "valid_until": s.validity.valid_until.isoformat() if s.validity.valid_until else None,
            "reason_code": self.reason_code,
            "at": self.at.isoformat(),
            "attested_at": self.attested_at.isoformat() if self.attested_at else None,
            "prev_sha256": self.prev_sha256,
            "key_id": self.key_id,
            "algorithm": self.algorithm,
        }

    # ----------------------------------------------------------------------- reading

    @property
    def signed_at(self) -> datetime:
        """When the signature was made: the act's instant, or a migration's."""
        return self.attested_at or self.at

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the signed body: the link the next statement carries."""
        return hashlib.sha256(self.body or canonical(self.content())).hexdigest()

    @classmethod
    def parse(cls, body: bytes, signature: bytes) -> StatusStatement | None:
        """A stored statement read back from its signed bytes; None when they are not a
        statement in canonical form (so the fields read are exactly the bytes signed)."""
        try:
            value = json.loads(body)
            statement = cls._from_content(value, signature, body)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return statement if canonical(statement.content()) == body else None

    @classmethod
    def _from_content(cls, v: dict[str, Any], signature: bytes, body: bytes) -> StatusStatement:
        if v["type"] != STATEMENT_TYPE:
            raise ValueError("not a status statement")
        until = v["valid_until"]
        state = LicenceState(
            type_code=_text(v["type_code"]),
            issuer_code=_text(v["issuer_code"]),
            serial=_text(v["serial"]),
            version=_count(v["version"]),
            content_sha256=_text(v["content_sha256"]),
            status=Status(v["status"]),
            validity=Validity(
                date.fromisoformat(v["valid_from"]), until and date.fromisoformat(until)
            ),
        )
        at = _instant(v["at"])
        attested = v["attested_at"]
        return cls(
            state=state,
            act=Act(v["act"]),
            sequence=_count(v["sequence"]),
            reason_code=_text(v["reason_code"]),
            at=at,
            prev_sha256=_text(v["prev_sha256"]),
            attested_at=_instant(attested) if attested is not None else None,
            key_id=_text(v["key_id"]),
            algorithm=_text(v["algorithm"]),
            signature=bytes(signature),
            body=bytes(body),
        )


def canonical(value: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of a statement's content."""
    return canonical_json(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return value


def _instant(value: Any) -> datetime:
    at = datetime.fromisoformat(_text(value))
    if at.tzinfo is None:
        raise ValueError("instant without a time zone")
    return at


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TypeError("expected a positive integer")
    return value


def legal_transition(previous: StatusStatement | None, current: StatusStatement) -> bool:
    """Whether ``current`` is an act the lifecycle allows after ``previous`` (None: first).

    The state machine is the licence's (:mod:`~services.licence_store.domain.licence`):
    a chain starts with ISSUED (active, version 1) or ATTESTED (a migration's snapshot);
    SUSPENDED, REINSTATED, REVOKED, CANCELLED move the status as their action does and keep
    the version; CHANGED and RENEWED make the next version and keep the status; nothing
    follows a terminal status.
    """
    s = current.state
    if previous is None:
        issued = current.act is Act.ISSUED and s.status is Status.ACTIVE and s.version == 1
        return issued or current.act is Act.ATTESTED
    p = previous.state
    if p.status.terminal:
        return False
    if current.act in ACTIONS:
        action = ACTIONS[current.act]
        return (
            p.status in action.sources
            and s.status is action.target
            and current.reason_code in REASON_CODES[action]
            and (s.version, s.content_sha256, s.validity)
            == (p.version, p.content_sha256, p.validity)
        )
    if current.act in VERSION_ACTS:
        return (
            p.status in VERSION_ACTS[current.act]
            and s.status is p.status
            and s.version == p.version + 1
            and _validity_follows(current.act, p.validity, s.validity)
        )
    return False  # ISSUED or ATTESTED after the first statement


def _validity_follows(act: Act, before: Validity, after: Validity) -> bool:
    """A change keeps the validity; a renewal keeps its start and moves a set end later."""
    if act is Act.CHANGED:
        return after == before
    return (
        after.valid_from == before.valid_from
        and before.valid_until is not None
        and after.valid_until is not None
        and after.valid_until > before.valid_until
    )


def statements_of_acts(
    previous: StatusStatement | Link | None,
    licence: Licence,
    content_sha256: str,
    signer: Signer,
) -> list[StatusStatement]:
    """The signed statements of ``licence``'s pending events (the acts just done to it, not
    yet taken by the repository), following ``previous``; ``content_sha256`` is the hash of
    its current version's content."""
    out: list[StatusStatement] = []
    state = LicenceState.of(licence, content_sha256)
    for event in licence.pending_events:
        reason = event.reason.code if event.reason else ""
        draft = StatusStatement.draft(previous, state, act_of(event.kind), event.at, reason)
        previous = draft.signed(signer)
        out.append(previous)
    return out
