"""Checking licences' signed status in this process, cheaply: the reader's side of signed status.

:class:`StatusAttestor` decides, for a licence read now, the state a verdict may be decided
from: its status chain's newest statement, verified, and equal to what the store's rows
claim — or a refusal (``STATUS_*``, the verdict is CANNOT_CHECK). A chain is checked in full
once per process; after that the newest statement verified is remembered per licence, and a
read whose newest statement is byte-for-byte that one costs a comparison, not a signature
check. A chain that grew is checked from the statement remembered on. The memory doubles as
the process's high-water marks: a chain older than one verified here is STATUS_ROLLED_BACK.

:class:`TrustedKeys` is the key lookup it checks signatures with: a department's public key
as stored, accepted only if it is the public half of the sealed private key stored with it
(checked once per key per process, then pinned): whoever can write the database but does not
hold the master keys cannot put a key of their own in a department's name.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from services.common.errors import YihaoError
from services.common.sealing import Sealer
from services.common.signing import PublicKey, SigningKey
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.statements import LicenceState, StatusStatement
from services.licence_store.domain.status_chain import (
    ChainCheck,
    HighWaterMarks,
    KeyOf,
    Refusal,
    StatusDecision,
    decide,
    decide_as_of,
    verify_chain,
)

#: A stored statement: (the signed bytes, the signature).
StoredStatement = tuple[bytes, bytes]
HEADS_MEMO_SIZE = 200_000


def signature_ok(key: SigningKeyRecord, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies under ``key``."""
    return PublicKey(key.key_id, key.algorithm, key.public_key).verify(data, signature)


class TrustedKeys:
    """Public keys as stored, each accepted once it is shown to be the public half of the
    sealed private key stored with it; the public key accepted is pinned for the process."""

    def __init__(
        self,
        lookup: KeyOf,
        sealed_of: Callable[[str], bytes | None],
        sealer: Sealer,
    ) -> None:
        self._lookup = lookup
        self._sealed_of = sealed_of
        self._sealer = sealer
        self._pinned: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __call__(self, key_id: str) -> SigningKeyRecord | None:
        """The key record, or None when there is none or it is not the department's own."""
        record = self._lookup(key_id)
        if record is None:
            return None
        pinned = self._pinned.get(key_id)
        if pinned is None:
            if not self._matches_sealed(record):
                return None
            with self._lock:
                pinned = self._pinned.setdefault(key_id, record.public_key)
        return record if pinned == record.public_key else None

    def _matches_sealed(self, record: SigningKeyRecord) -> bool:
        sealed = self._sealed_of(record.key_id)
        if sealed is None:
            return False
        try:
            raw = self._sealer.open(sealed, aad=record.key_id.encode())
            key = SigningKey.from_private_bytes(record.key_id, raw, record.algorithm)
        except YihaoError:  # a blob that does not open (or is no key) vouches for nothing
            return False
        return key.public().public_key == record.public_key


class StatusAttestor:
    """Decides licences' status from their verified chains (see the module docstring)."""

    def __init__(self, key_of: KeyOf, *, size: int = HEADS_MEMO_SIZE) -> None:
        self._key_of = key_of
        self._size = size
        self._heads: dict[str, StatusStatement] = {}
        self._marks = HighWaterMarks()
        self._lock = threading.Lock()
        #: serial -> (statement, claimed state, decision) of the last decision answered from a
        #: remembered statement: a read of the same rows (the reader hands back the very same
        #: claimed object for unchanged rows) reuses it, with the high-water mark checked.
        self._answered: dict[str, tuple[StatusStatement, LicenceState, StatusDecision]] = {}

    def needs_chain(self, serial: str, head: StoredStatement | None) -> bool:
        """Whether :meth:`decide` would read the licence's chain for this newest statement
        (it is not the one verified last here): a reader of many rows reads those chains in
        one go."""
        if head is None:
            return False
        known = self._heads.get(serial)
        return known is None or known.body != head[0] or known.signature != head[1]

    def decide(
        self,
        claimed: LicenceState,
        head: StoredStatement | None,
        load_chain: Callable[[], Sequence[StoredStatement]],
    ) -> StatusDecision:
        """The state to answer ``claimed`` (the rows' state) from, given the chain's newest
        statement as read with the rows (``head``); ``load_chain`` reads the whole chain,
        called only when ``head`` is not the one verified last here."""
        if head is None:
            return StatusDecision(None, Refusal.UNATTESTED)
        serial = claimed.serial
        known = self._heads.get(serial)
        if known is not None and known.body == head[0] and known.signature == head[1]:
            # The same statement as verified last, claimed by the same rows as answered last:
            # the same decision, unless this process has since verified a newer statement
            # (the high-water mark, read without its lock: it only grows by replacement).
            last = self._answered.get(serial)
            if (
                last is not None
                and last[0] is known
                and last[1] is claimed
                and self._marks.holds(known)
            ):
                return last[2]
            decision = decide(ChainCheck(serial, known), claimed, self._marks)
            if decision.refusal is None:
                self._answer(serial, known, claimed, decision)
            return decision
        chain = list(load_chain())
        if head in chain:  # the chain may have grown since the rows were read: judge those
            chain = chain[: chain.index(head) + 1]
        check = self._check(claimed.serial, chain, known)
        if check.ok and check.head is not None and check.head.body != head[0]:
            check = ChainCheck(claimed.serial, None, Refusal.CHAIN_BROKEN)
        return decide(check, claimed, self._marks)

    def _answer(
        self,
        serial: str,
        head: StatusStatement,
        claimed: LicenceState,
        decision: StatusDecision,
    ) -> None:
        if len(self._answered) >= self._size:
            self._answered.clear()
        self._answered[serial] = (head, claimed, decision)

    def decide_as_of(
        self, serial: str, chain: Sequence[StoredStatement], at: datetime
    ) -> StatusDecision:
        """The state at instant ``at`` from the whole chain (``chain``, as stored)."""
        check = self._check(serial, chain, None)
        if check.ok and check.head is not None:
            refused = self._marks.observe(check.head)
            if refused is not None:
                return StatusDecision(None, refused, check.head)
        return decide_as_of(check, at)

    def _check(
        self, serial: str, chain: Sequence[StoredStatement], known: StatusStatement | None
    ) -> ChainCheck:
        """Verify ``chain``: from the remembered statement on when the chain still holds it,
        else from its first statement; remember the head verified."""
        parsed = [StatusStatement.parse(body, signature) for body, signature in chain]
        if known is not None and _continues(chain, known):
            check = verify_chain(
                serial, parsed[known.sequence :], self._key_of, signature_ok, after=known
            )
        else:
            check = verify_chain(serial, parsed, self._key_of, signature_ok)
        if check.ok and check.head is not None:
            self._remember(serial, check.head)
        return check

    def _remember(self, serial: str, head: StatusStatement) -> None:
        with self._lock:
            known = self._heads.get(serial)
            if known is not None and known.sequence > head.sequence:
                return  # an older chain verified: the high-water mark refuses it
            self._heads.pop(serial, None)
            self._heads[serial] = head
            excess = len(self._heads) - self._size
            if excess > 0:
                for old in list(itertools.islice(self._heads, excess + self._size // 4)):
                    del self._heads[old]


def _continues(chain: Sequence[StoredStatement], known: StatusStatement) -> bool:
    """Whether ``chain`` holds ``known`` at its place (so only what follows needs checking)."""
    at = known.sequence - 1
    return len(chain) > at and chain[at] == (known.body, known.signature)
