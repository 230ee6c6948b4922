"""The tamper-evident log: an append-only Merkle tree (RFC 6962) of everything that counts.

Licence events, verification receipts and assistance decisions each append a leaf in the
same transaction as the record itself. A leaf holds hashes, not personal data — the kind of
record, its reference, and the SHA-256 of the record's canonical payload — so a payload
deleted under a retention rule leaves the log intact. At an interval the service signs a tree
head (size, root); inclusion proofs show an entry is in a signed tree, consistency proofs show
a later tree only appended to an earlier one, and ``yihao audit verify`` recomputes every leaf
from the database and every root against the signed heads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)

from services.common import merkle
from services.common.clock import as_utc
from services.common.database import insert_rows, metadata
from services.common.evidence import Entry
from services.common.signing import SigningKey, canonical_json

# Appends on PostgreSQL take this transaction-level advisory lock, so that leaf sequence
# numbers become visible in the order they were allocated (the tree is a prefix of them).
AUDIT_ORDER_LOCK = 0x59494842  # "YIHB"

audit_leaves = Table(
    "audit_leaves",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("kind", String(32), nullable=False),
    Column("ref", String(128), nullable=False, index=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True),
    Column("root_hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    # Where the next head starts: the seq of the last leaf in this tree and the tree's Merkle
    # frontier (JSON list of hex hashes); NULL on heads signed before they were kept.
    Column("last_seq", BigInteger, nullable=True),
    Column("frontier", Text, nullable=True),
)


@dataclass(frozen=True)
class Leaf:
    """A stored leaf (``index`` is its 0-based position in the tree)."""

    index: int
    seq: int
    kind: str
    ref: str
    payload_sha256: str
    leaf_hash: bytes
    at: datetime


@dataclass(frozen=True)
class TreeHead:
    """A signed statement: the tree of this size had this root at this time."""

    tree_size: int
    root_hash: bytes
    at: datetime
    key_id: str
    signature: bytes

    def signed_bytes(self) -> bytes:
        """What the head's signature covers."""
        return head_bytes(self.tree_size, self.root_hash, self.at)


def head_bytes(size: int, root_hash: bytes, at: datetime) -> bytes:
    """The canonical bytes of a tree head (what is signed)."""
    return canonical_json(
        {"tree_size": size, "root_hash": root_hash.hex(), "at": at.isoformat()}, plain=True
    )


def leaf_data(entry: Entry) -> bytes:
    """The bytes a leaf hashes: hashes and references only, never personal data."""
    return canonical_json(
        {"kind": entry.kind, "ref": entry.ref, "sha256": entry.payload_sha256}, plain=True
    )


def append(conn: Connection, entries: Sequence[Entry], at: datetime) -> None:
    """Append leaves in the caller's transaction."""
    if not entries:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_ORDER_LOCK})
    insert_rows(
        conn,
        audit_leaves,
        [
            {
                "kind": e.kind,
                "ref": e.ref,
                "payload_sha256": e.payload_sha256,
                "leaf_hash": merkle.leaf_hash(leaf_data(e)).hex(),
                "at": at,
            }
            for e in entries
        ],
    )


def leaves(conn: Connection, limit: int | None = None) -> list[Leaf]:
    """The leaves in tree order (all, or the first ``limit``)."""
    stmt = select(audit_leaves).order_by(audit_leaves.c.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        Leaf(i, r.seq, r.kind, r.ref, r.payload_sha256, bytes.fromhex(r.leaf_hash), as_utc(r.at))
        for i, r in enumerate(conn.execute(stmt))
    ]


def leaf_hashes(conn: Connection, limit: int | None = None) -> list[bytes]:
    """Just the leaf hashes, in tree order."""
    stmt = select(audit_leaves.c.leaf_hash).order_by(audit_leaves.c.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [bytes.fromhex(h) for (h,) in conn.execute(stmt)]


def size(conn: Connection) -> int:
    """How many leaves there are."""
    return int(conn.execute(select(func.count()).select_from(audit_leaves)).scalar() or 0)


def find_leaf(conn: Connection, ref: str) -> Leaf | None:
    """The (first) leaf logging the record ``ref``, with its tree index."""
    row = conn.execute(
        select(audit_leaves).where(audit_leaves.c.ref == ref).order_by(audit_leaves.c.seq)
    ).first()
    if row is None:
        return None
    index = conn.execute(
        select(func.count()).select_from(audit_leaves).where(audit_leaves.c.seq < row.seq)
    ).scalar()
    return Leaf(
        int(index or 0),
        row.seq,
        row.kind,
        row.ref,
        row.payload_sha256,
        bytes.fromhex(row.leaf_hash),
        as_utc(row.at),
    )


@dataclass(frozen=True)
class GrownTree:
    """The log's tree as read now, grown from the latest head: what a new head would sign."""

    size: int
    root_hash: bytes
    last_seq: int | None
    frontier: list[bytes]


def grow_tree(conn: Connection) -> GrownTree:
    """The tree as it is now: the latest head's frontier plus the leaves appended since (all
    leaves when the latest head kept no frontier). Only reads, so it can run outside the write
    transaction that stores the head — the log grows with every licence and verification."""
    tree, after = merkle.MerkleTree(), None
    start = conn.execute(
        select(tree_heads.c.tree_size, tree_heads.c.last_seq, tree_heads.c.frontier)
        .order_by(tree_heads.c.tree_size.desc())
        .limit(1)
    ).first()
    if start is not None and start.frontier is not None and start.last_seq is not None:
        frontier = [bytes.fromhex(h) for h in json.loads(start.frontier)]
        tree, after = merkle.MerkleTree.resume(start.tree_size, frontier), start.last_seq
    stmt = select(audit_leaves.c.seq, audit_leaves.c.leaf_hash).order_by(audit_leaves.c.seq)
    if after is not None:
        stmt = stmt.where(audit_leaves.c.seq > after)
    last_seq = after
    for seq, leaf_hash in conn.execute(stmt):
        tree.append(bytes.fromhex(leaf_hash))
        last_seq = seq
    return GrownTree(tree.size, tree.root(), last_seq, tree.frontier)


def store_head(conn: Connection, grown: GrownTree, key: SigningKey, at: datetime) -> TreeHead:
    """Sign ``grown`` and store it, unless a head at least as large is already stored (another
    process got there first): then that one is returned."""
    latest = latest_head(conn)
    if latest is not None and latest.tree_size >= grown.size:
        return latest
    size, root_hash = grown.size, grown.root_hash
    head = TreeHead(size, root_hash, at, key.key_id, key.sign(head_bytes(size, root_hash, at)))
    conn.execute(
        insert(tree_heads).values(
            tree_size=size,
            root_hash=root_hash.hex(),
            at=at,
            key_id=key.key_id,
            signature=head.signature,
            last_seq=grown.last_seq,
            frontier=json.dumps([h.hex() for h in grown.frontier]),
        )
    )
    return head


def sign_head(conn: Connection, key: SigningKey, at: datetime) -> TreeHead:
    """Sign the tree as it is now, in one transaction (the caller's, which stores the head)."""
    return store_head(conn, grow_tree(conn), key, at)


def heads(conn: Connection) -> list[TreeHead]:
    """Every signed head, smallest tree first."""
    rows = conn.execute(select(tree_heads).order_by(tree_heads.c.tree_size))
    return [_head(r) for r in rows]


def _head(r: Any) -> TreeHead:
    return TreeHead(
        r.tree_size, bytes.fromhex(r.root_hash), as_utc(r.at), r.key_id, bytes(r.signature)
    )


def latest_head(conn: Connection) -> TreeHead | None:
    """The largest signed tree head."""
    row = conn.execute(select(tree_heads).order_by(tree_heads.c.tree_size.desc()).limit(1))
    return next((_head(r) for r in row), None)


def head_of_size(conn: Connection, tree_size: int) -> TreeHead | None:
    """The signed head of exactly ``tree_size`` leaves."""
    row = conn.execute(select(tree_heads).where(tree_heads.c.tree_size == tree_size))
    return next((_head(r) for r in row), None)
