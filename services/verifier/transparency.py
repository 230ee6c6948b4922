"""Signed tree heads and proofs over the tamper-evident log, for anyone to check."""

from __future__ import annotations

from typing import Protocol

from services.common import audit_log, log_tree
from services.common.audit_log import Leaf, TreeHead
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.verifier.keys import ServiceKeys

#: Entries one ListLogEntries call may list.
MAX_ENTRIES = 100


class HeadKeeper(Protocol):
    """Keeps signed heads outside the database (services.common.trusted_head)."""

    def require_current(self) -> None:
        """Raise while the database's log is behind the kept head."""

    def advance(self, head: TreeHead) -> None:
        """Keep ``head``, just signed and committed, if it extends the kept one."""


class Transparency:
    """Signs the log's tree heads with the verifier's log key and answers proofs."""

    def __init__(
        self, db: Database, log_keys: ServiceKeys, clock: Clock, keeper: HeadKeeper | None = None
    ) -> None:
        """``keeper``: where signed heads are kept outside the database, if anywhere; no head
        is signed over a log that is behind the kept one."""
        self.db = db
        self.log_keys = log_keys
        self.clock = clock
        self.keeper = keeper

    def tree_head(self, fresh: bool) -> TreeHead:
        """The latest signed head; with ``fresh``, sign the log as it is now first."""
        if not fresh:
            with self.db.read() as conn:
                latest = audit_log.latest_head(conn)
            if latest is not None:
                return latest
        if self.keeper is not None:
            self.keeper.require_current()
        key = self.log_keys.signing_key()  # may create the key: its own transaction, first
        self.sequence()  # what is queued goes into the tree this head signs
        with self.db.read() as conn:  # the leaves since the last head, read without a lock
            grown = audit_log.grow_tree(conn)
        with self.db.transaction() as conn:
            head = audit_log.store_head(conn, grown, key, self.clock.now())
        if self.keeper is not None:  # committed: now it may be kept
            self.keeper.advance(head)
        return head

    def sequence(self) -> int:
        """Append the log's queue to the tree now (:func:`audit_log.sequence`); how many."""
        with self.db.transaction() as conn:
            return audit_log.sequence(conn)

    def find_leaf(self, ref: str) -> Leaf | None:
        """The leaf logging the record ``ref``; a record whose entry is still queued is
        sequenced first, so it is found as soon as it is written."""
        with self.db.read() as conn:
            leaf = audit_log.find_leaf(conn, ref)
            queued = leaf is None and audit_log.is_queued(conn, ref)
        if not queued:
            return leaf
        self.sequence()
        with self.db.read() as conn:
            return audit_log.find_leaf(conn, ref)

    def _head(self, size: int) -> TreeHead:
        if size < 0:
            raise InvalidArgument.field("tree_size", "must not be negative", "OUT_OF_RANGE")
        if size == 0:
            return self.tree_head(fresh=False)
        with self.db.read() as conn:
            head = audit_log.head_of_size(conn, size)
        if head is None:
            raise NotFound(f"no signed tree head of size {size}", reason="TREE_HEAD_NOT_FOUND")
        return head

    def inclusion(self, ref: str, size: int) -> tuple[Leaf, list[bytes], TreeHead]:
        """(leaf, audit path, head) proving the record ``ref`` is in a signed tree."""
        if not ref.strip() or len(ref) > 128:
            raise InvalidArgument.field("ref", "is required, at most 128 characters", "REQUIRED")
        head = self._head(size)
        leaf = self.find_leaf(ref.strip())
        if leaf is None:
            raise NotFound(f"no log entry for {ref}", reason="LOG_ENTRY_NOT_FOUND")
        with self.db.read() as conn:
            if leaf.index >= head.tree_size:
                raise FailedPrecondition(
                    f"{ref} was logged after the signed head of size {head.tree_size}; "
                    "ask again after the next head",
                    reason="NOT_YET_IN_SIGNED_HEAD",
                )
            proof = log_tree.inclusion_proof(conn, leaf.index, head.tree_size)
        return leaf, proof, head

    def consistency(self, first: int, second: int) -> tuple[list[bytes], TreeHead, TreeHead]:
        """A proof that the tree of size ``second`` only appended to the tree of size
        ``first``."""
        if not 0 < first <= second:
            raise InvalidArgument.field(
                "first_size", "must be positive and at most second_size", "OUT_OF_RANGE"
            )
        old, new = self._head(first), self._head(second)
        with self.db.read() as conn:
            proof = log_tree.consistency_proof(conn, old.tree_size, new.tree_size)
        return proof, old, new

    def entries(
        self, size: int, start: int, count: int
    ) -> tuple[TreeHead, list[tuple[Leaf, list[bytes]]]]:
        """The entries at ``start`` … ``start + count - 1`` of the signed head of ``size``
        (0: the latest), each with its inclusion proof in that head."""
        if start < 0:
            raise InvalidArgument.field("start", "must not be negative", "OUT_OF_RANGE")
        if not 0 < count <= MAX_ENTRIES:
            raise InvalidArgument.field(
                "count", f"must be between 1 and {MAX_ENTRIES}", "OUT_OF_RANGE"
            )
        head = self._head(size)
        stop = min(start + count, head.tree_size)
        with self.db.read() as conn:
            leaves = audit_log.leaves_between(conn, start, stop) if start < stop else []
            proofs = [log_tree.inclusion_proof(conn, leaf.index, head.tree_size) for leaf in leaves]
        return head, list(zip(leaves, proofs, strict=True))
