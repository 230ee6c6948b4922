"""Checking a licence's status chain, and what a verdict may be decided from.

:func:`verify_chain` checks a licence's statements in order: sequence numbers contiguous from
1, each naming the hash of the one before, each about this licence, each an act the
lifecycle allows after the one before, each signed by a key of the issuing department that
was valid (and not compromised) at the statement's instant. :func:`decide` then takes the
verified chain and the state the store's rows claim and says what to answer from: the
newest statement's state, or a :class:`Refusal` with a stable reason code — never the rows.

:class:`HighWaterMarks` is a process's memory of the newest statement it has verified per
licence: a chain shorter than one already seen (rows deleted, an old copy restored) is
refused as ``STATUS_ROLLED_BACK``. It lives in process memory, out of reach of anyone who can
only edit the database; a restarted process starts with none (the monitor closes that gap).

Plain Python: key lookup and signature checking are passed in.
"""

from __future__ import annotations

import enum
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.statements import (
    GENESIS,
    Act,
    LicenceState,
    StatusStatement,
    legal_transition,
)

#: A key record by key id (None: no such key).
KeyOf = Callable[[str], SigningKeyRecord | None]
#: Whether ``signature`` over ``data`` verifies under the key: (key, data, signature) -> bool.
SignatureOk = Callable[[SigningKeyRecord, bytes, bytes], bool]

HIGH_WATER_SIZE = 1_000_000


class Refusal(enum.Enum):
    """Why a licence's status cannot be vouched for (the verdict is CANNOT_CHECK)."""

    __hash__ = object.__hash__

    UNATTESTED = "STATUS_UNATTESTED"  # no statement at all
    MALFORMED = "STATUS_STATEMENT_MALFORMED"  # stored bytes are not a canonical statement
    CHAIN_BROKEN = "STATUS_CHAIN_BROKEN"  # a gap, a wrong link, another licence's statement
    ILLEGAL_TRANSITION = "STATUS_ILLEGAL_TRANSITION"  # an act the lifecycle does not allow
    KEY_NOT_VALID = "STATUS_KEY_NOT_VALID"  # unknown, another department's, out of period
    SIGNATURE_INVALID = "STATUS_SIGNATURE_INVALID"
    ROW_MISMATCH = "STATUS_ROW_MISMATCH"  # the rows claim a state the chain does not
    ROLLED_BACK = "STATUS_ROLLED_BACK"  # older than a statement this process has verified
    FORKED = "STATUS_CHAIN_FORKED"  # another statement where this process verified one
    NOT_ATTESTED_THEN = "STATUS_NOT_ATTESTED_THEN"  # as-of before a migrated chain begins


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of :func:`verify_chain`: the newest verified statement, or why not."""

    serial: str
    head: StatusStatement | None
    refusal: Refusal | None = None
    failed_at: int = 0  # 1-based position in the chain of the statement refused
    statements: tuple[StatusStatement, ...] = ()  # those checked, oldest first

    @property
    def ok(self) -> bool:
        """Whether the chain verified."""
        return self.refusal is None and self.head is not None


def verify_chain(
    serial: str,
    statements: Sequence[StatusStatement | None],
    key_of: KeyOf,
    signature_ok: SignatureOk,
    *,
    after: StatusStatement | None = None,
) -> ChainCheck:
    """Check ``statements`` (oldest first; None: one that could not be parsed) of licence
    ``serial``; ``after``, if given, is a statement already verified by this process that they
    continue (so only the new ones are checked)."""
    previous = after
    checked: list[StatusStatement] = []
    for position, statement in enumerate(statements, start=(after.sequence if after else 0) + 1):
        refusal = (
            Refusal.MALFORMED
            if statement is None
            else _refusal(serial, previous, statement, position, key_of, signature_ok)
        )
        if refusal is not None:
            return ChainCheck(serial, None, refusal, position, tuple(checked))
        assert statement is not None
        checked.append(statement)
        previous = statement
    if previous is None:
        return ChainCheck(serial, None, Refusal.UNATTESTED)
    return ChainCheck(serial, previous, None, 0, tuple(checked))


def _refusal(
    serial: str,
    previous: StatusStatement | None,
    s: StatusStatement,
    position: int,
    key_of: KeyOf,
    signature_ok: SignatureOk,
) -> Refusal | None:
    """Why ``s`` (at ``position``) does not follow ``previous``, or None when it does."""
    if s.state.serial != serial or s.sequence != position:
        return Refusal.CHAIN_BROKEN
    if previous is not None and (
        (s.state.type_code, s.state.issuer_code)
        != (previous.state.type_code, previous.state.issuer_code)
    ):
        return Refusal.CHAIN_BROKEN
    key = key_of(s.key_id)
    if key is None or not _key_fits(key, s):
        return Refusal.KEY_NOT_VALID
    if not signature_ok(key, s.body, s.signature):
        return Refusal.SIGNATURE_INVALID
    if s.prev_sha256 != (previous.digest if previous else GENESIS):
        return Refusal.CHAIN_BROKEN
    if not legal_transition(previous, s):
        return Refusal.ILLEGAL_TRANSITION
    return None


def _key_fits(key: SigningKeyRecord, s: StatusStatement) -> bool:
    """The issuer's own key, of the algorithm named, valid and trusted at the instant."""
    return (
        key.department_code == s.state.issuer_code
        and key.algorithm == s.algorithm
        and key.valid_at(s.signed_at)
        and not key.compromised_for(s.signed_at)
    )


# ------------------------------------------------------------------------------- deciding


@dataclass(frozen=True)
class StatusDecision:
    """What to answer from: a verified state, or the refusal (answer CANNOT_CHECK)."""

    state: LicenceState | None
    refusal: Refusal | None = None
    head: StatusStatement | None = None

    @property
    def reason(self) -> str:
        """The stable reason code of a refusal ("" when there is a state to answer from)."""
        return self.refusal.value if self.refusal else ""


class HighWaterMarks:
    """Per licence, the newest statement this process has verified (sequence and digest).

    Bounded (``size``): when full the oldest quarter is forgotten, and a licence forgotten
    loses this process's rollback protection until it is verified again.
    """

    def __init__(self, size: int = HIGH_WATER_SIZE) -> None:
        self._size = size
        self._marks: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def observe(self, head: StatusStatement) -> Refusal | None:
        """Record ``head`` (a verified chain's newest statement); a refusal if it is older than
        (ROLLED_BACK) or differs from (FORKED) the newest already verified here."""
        serial, mark = head.state.serial, (head.sequence, head.digest)
        with self._lock:
            seen = self._marks.get(serial)
            if seen is not None and mark[0] <= seen[0]:
                if mark[0] < seen[0]:
                    return Refusal.ROLLED_BACK
                return None if mark[1] == seen[1] else Refusal.FORKED
            self._marks.pop(serial, None)
            self._marks[serial] = mark
            if len(self._marks) > self._size:
                drop = len(self._marks) - self._size + self._size // 4
                for old in list(itertools.islice(self._marks, drop)):
                    del self._marks[old]
        return None

    def holds(self, head: StatusStatement) -> bool:
        """Whether ``head`` is the newest statement verified here for its licence (so
        :meth:`observe` would record nothing and refuse nothing); read without the lock."""
        return self._marks.get(head.state.serial) == (head.sequence, head.digest)

    def sequence_of(self, serial: str) -> int:
        """The newest sequence verified for ``serial`` (0: none)."""
        seen = self._marks.get(serial)
        return seen[0] if seen else 0


def decide(
    check: ChainCheck, claimed: LicenceState | None, marks: HighWaterMarks | None = None
) -> StatusDecision:
    """The state to answer from: the verified chain's newest statement, provided this process
    has verified nothing newer (``marks``) and the store's rows (``claimed``; None: not
    compared) claim exactly that state."""
    head = check.head
    if check.refusal is not None or head is None:
        return StatusDecision(None, check.refusal or Refusal.UNATTESTED)
    refusal = marks.observe(head) if marks is not None else None
    if refusal is None and claimed is not None and claimed != head.state:
        refusal = Refusal.ROW_MISMATCH
    if refusal is not None:
        return StatusDecision(None, refusal, head)
    return StatusDecision(head.state, None, head)


def decide_as_of(check: ChainCheck, at: datetime) -> StatusDecision:
    """The state at instant ``at`` from a whole verified chain (``verify_chain`` without
    ``after``): that of the newest statement made at or before ``at``; no state (and no
    refusal) when the licence had not been issued then; NOT_ATTESTED_THEN when the chain
    begins with a migration's attestation made after ``at``."""
    if not check.ok:
        return StatusDecision(None, check.refusal or Refusal.UNATTESTED)
    if check.statements[0].sequence != 1:
        raise ValueError("decide_as_of needs the whole chain, checked from its first statement")
    then = [s for s in check.statements if s.at <= at]
    if not then:
        first = check.statements[0]
        if first.act is Act.ATTESTED:
            return StatusDecision(None, Refusal.NOT_ATTESTED_THEN, check.head)
        return StatusDecision(None, None, check.head)
    return StatusDecision(then[-1].state, None, then[-1])
