"""The tamper-evident log: an append-only Merkle tree (RFC 6962) of everything that counts.

Licence events and assistance decisions each append a leaf in the same transaction as the
record itself; verification receipts (and their access records) queue their entries in the
receipt's transaction, and a sequencer appends the queue to the tree many at a time — before
any head is signed and before a queued record's proof is answered (Trillian's queue and
sequencer; :func:`queue`, :func:`sequence`). A leaf holds hashes, not personal data — the
kind of record, its reference, and the SHA-256 of the record's canonical payload — so a
payload deleted under a retention rule leaves the log intact. At an interval the service signs
a tree head (size, root); inclusion proofs show an entry is in a signed tree, consistency
proofs show a later tree only appended to an earlier one, and ``yihao audit verify``
recomputes every leaf from the database and every root against the signed heads.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _json_text  # canonical_json's string escaping
from typing import Any

from sqlalchemy import Connection, func, insert, select, text

from services.common import log_tree, merkle
from services.common.bulk_insert import insert_many, insert_rows
from services.common.clock import as_utc
from services.common.database import driver_first
from services.common.evidence import Entry
from services.common.log_tables import audit_leaves, audit_nodes, audit_queue, tree_heads
from services.common.signing import SigningKey, canonical_json

__all__ = [
    "AUDIT_ORDER_LOCK",
    "Entry",
    "GrownTree",
    "Leaf",
    "TreeHead",
    "append",
    "audit_leaves",
    "audit_nodes",
    "find_leaf",
    "grow_tree",
    "head_bytes",
    "head_of_size",
    "heads",
    "is_queued",
    "latest_head",
    "leaf_data",
    "leaf_hashes",
    "leaves",
    "leaves_between",
    "queue",
    "queued",
    "sequence",
    "sign_head",
    "size",
    "store_head",
    "tree_heads",
]

# Appends on PostgreSQL take this transaction-level advisory lock, so that leaf indexes are
# allocated, and become visible, in order (the tree is a prefix of them). On SQLite every
# write transaction holds the database's write lock (BEGIN IMMEDIATE) already.
AUDIT_ORDER_LOCK = 0x59494842  # "YIHB"
# Head signing on PostgreSQL takes this one, so that of several processes signing at once
# (every worker signs a last head when a multi-process server stops) one stores the head and
# the others find it, instead of failing on its primary key.
HEAD_SIGNING_LOCK = 0x59494843  # "YIHC"


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
    """The bytes a leaf hashes: hashes and references only, never personal data.

    The canonical JSON of ``{"kind", "ref", "sha256"}`` (RFC 8785: keys sorted, no spaces),
    written out directly: the sequencer makes one for every entry it appends, and the general
    encoder cost it ~5 µs each. A test holds it equal to :func:`canonical_json` of the same."""
    return (
        f'{{"kind":{_json_text(entry.kind)},"ref":{_json_text(entry.ref)},'
        f'"sha256":{_json_text(entry.payload_sha256)}}}'
    ).encode()


#: Per database: the frontier after the last leaf this process appended, keyed by that leaf
#: (index and hash). An append whose last leaf is that one (nobody appended since, and the
#: transaction that wrote it committed) starts from it instead of reading it again; any other
#: last leaf (another process appended, or that transaction rolled back) reads it.
_frontiers: weakref.WeakKeyDictionary[Any, tuple[tuple[int, str], dict[Any, bytes]]] = (
    weakref.WeakKeyDictionary()
)

_LAST_LEAF = f"SELECT idx, leaf_hash FROM {audit_leaves.name} ORDER BY idx DESC LIMIT 1"


def append(conn: Connection, entries: Sequence[Entry], at: datetime) -> None:
    """Append leaves in the caller's transaction, with the subtrees they complete — after
    whatever is queued (:func:`queue`), so the tree keeps the order records were written in."""
    if not entries:
        return
    _order_lock(conn)
    _append(conn, [*_take_queue(conn), *((e, at) for e in entries)])


def queue(conn: Connection, entries: Sequence[Entry], at: datetime) -> None:
    """Queue entries for the log in the caller's transaction (the record's): one small row
    each, where :func:`append` reads the tree's last leaf, hashes, and writes leaves and
    subtrees. :func:`sequence` appends them later, in order, many at once; until then they are
    in no tree (:func:`queued`, :func:`is_queued`). Verification receipts go this way: the log
    append was a quarter of a single verification's round."""
    if entries:
        insert_many(
            conn,
            audit_queue,
            ("kind", "ref", "payload_sha256", "at"),
            [(e.kind, e.ref, e.payload_sha256, at) for e in entries],
        )


def sequence(conn: Connection) -> int:
    """Append every queued entry, in the order queued, in the caller's transaction (which
    holds the log's append order); how many. Signing a head, proving a queued record and a
    server's sequencer call it."""
    _order_lock(conn)
    taken = _take_queue(conn)
    if taken:
        _append(conn, taken)
    return len(taken)


def queued(conn: Connection) -> list[Leaf]:
    """The entries queued and not yet appended, oldest first, as leaves without a place in the
    tree (index -1): ``yihao audit verify`` checks their records as it checks the tree's."""
    rows = conn.execute(select(audit_queue).order_by(audit_queue.c.seq)).all()
    return [
        Leaf(
            -1,
            r.seq,
            r.kind,
            r.ref,
            r.payload_sha256,
            merkle.leaf_hash(leaf_data(Entry(r.kind, r.ref, r.payload_sha256))),
            as_utc(r.at),
        )
        for r in rows
    ]


def queue_state(conn: Connection) -> tuple[int, datetime | None]:
    """How many entries are queued, and when the oldest was (None: none are)."""
    row = conn.execute(select(func.count(), func.min(audit_queue.c.at))).one()
    count, oldest = int(row[0]), row[1]
    return count, (_instant(oldest) if oldest is not None else None)


def is_queued(conn: Connection, ref: str) -> bool:
    """Whether the record ``ref`` has an entry queued (logged once :func:`sequence` runs)."""
    found = conn.execute(select(audit_queue.c.seq).where(audit_queue.c.ref == ref).limit(1))
    return found.first() is not None


def _order_lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_ORDER_LOCK})


_QUEUED = f"SELECT seq, kind, ref, payload_sha256, at FROM {audit_queue.name} ORDER BY seq"


def _take_queue(conn: Connection) -> list[tuple[Entry, datetime]]:
    """(Holding the append order.) The queued entries, off the queue, on the driver (a
    sequencer pass holds the write lock: SQLAlchemy's statements cost it more than the rows).
    Exactly the rows read are deleted: on PostgreSQL a lower ``seq`` may commit after a higher
    one was read; on SQLite nothing commits while this transaction writes."""
    rows = conn.exec_driver_sql(_QUEUED).fetchall()
    if not rows:
        return []
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"DELETE FROM {audit_queue.name} WHERE seq = ANY(%s)", ([r[0] for r in rows],)
        )
    else:
        conn.exec_driver_sql(f"DELETE FROM {audit_queue.name} WHERE seq <= ?", (rows[-1][0],))
    instants: dict[Any, datetime] = {}  # a round's entries share one instant: parsed once
    taken = []
    for _, kind, ref, sha, at in rows:
        instant = instants.get(at)
        if instant is None:
            instant = instants[at] = _instant(at)
        taken.append((Entry(kind, ref, sha), instant))
    return taken


def _instant(value: Any) -> datetime:
    """A stored instant as the driver returns it (SQLite: the text written) as a datetime."""
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _append(conn: Connection, items: Sequence[tuple[Entry, datetime]]) -> None:
    """(Holding the append order.) Leaves for ``items`` (entry, instant) after the last one."""
    # Straight to the driver's cursor: SQLAlchemy's statement and result machinery cost every
    # group commit several times the query.
    last = driver_first(conn, _LAST_LEAF)
    start = 0 if last is None else last[0] + 1
    hashes = [merkle.leaf_hash(leaf_data(e)) for e, _ in items]
    insert_rows(
        conn,
        audit_leaves,
        [
            {
                "idx": start + i,
                "kind": e.kind,
                "ref": e.ref,
                "payload_sha256": e.payload_sha256,
                "leaf_hash": h.hex(),
                "at": at,
            }
            for i, ((e, at), h) in enumerate(zip(items, hashes, strict=True))
        ],
    )
    known = {} if last is None else {(0, last[0]): bytes.fromhex(last[1])}
    memo = _frontiers.get(conn.engine)
    if memo is not None and last is not None and memo[0] == (last[0], last[1]):
        known = memo[1]
    after = log_tree.extend(conn, start, hashes, known)
    _frontiers[conn.engine] = ((start + len(hashes) - 1, hashes[-1].hex()), after)


def _leaf(r: Any) -> Leaf:
    return Leaf(
        r.idx, r.seq, r.kind, r.ref, r.payload_sha256, bytes.fromhex(r.leaf_hash), as_utc(r.at)
    )


def leaves(conn: Connection, limit: int | None = None) -> list[Leaf]:
    """The stored leaves in tree order (all, or the first ``limit``); each carries the index
    it was stored under, so a deleted leaf shows as a gap."""
    stmt = select(audit_leaves).order_by(audit_leaves.c.idx)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_leaf(r) for r in conn.execute(stmt)]


def leaves_between(conn: Connection, start: int, stop: int) -> list[Leaf]:
    """The stored leaves with tree index in ``[start, stop)``, in tree order."""
    stmt = (
        select(audit_leaves)
        .where(audit_leaves.c.idx >= start, audit_leaves.c.idx < stop)
        .order_by(audit_leaves.c.idx)
    )
    return [_leaf(r) for r in conn.execute(stmt)]


def leaf_hashes(conn: Connection, limit: int | None = None) -> list[bytes]:
    """Just the leaf hashes, in tree order."""
    stmt = select(audit_leaves.c.leaf_hash).order_by(audit_leaves.c.idx)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [bytes.fromhex(h) for (h,) in conn.execute(stmt)]


def size(conn: Connection) -> int:
    """How many leaves the tree has (one more than the last leaf's index)."""
    last = conn.execute(select(func.max(audit_leaves.c.idx))).scalar()
    return 0 if last is None else int(last) + 1


def find_leaf(conn: Connection, ref: str) -> Leaf | None:
    """The (first) leaf logging the record ``ref``, with its tree index."""
    row = conn.execute(
        select(audit_leaves).where(audit_leaves.c.ref == ref).order_by(audit_leaves.c.idx).limit(1)
    ).first()
    return None if row is None else _leaf(row)


@dataclass(frozen=True)
class GrownTree:
    """The log's tree as read now, grown from the latest head: what a new head would sign."""

    size: int
    root_hash: bytes
    last_seq: int | None
    frontier: list[bytes]


def grow_tree(conn: Connection) -> GrownTree:
    """The tree as it is now, from its stored frontier (``O(log n)`` reads). Only reads, so it
    can run outside the write transaction that stores the head — the log grows with every
    licence and verification."""
    last = conn.execute(
        select(audit_leaves.c.idx, audit_leaves.c.seq).order_by(audit_leaves.c.idx.desc()).limit(1)
    ).first()
    if last is None:
        return GrownTree(0, merkle.EMPTY_ROOT, None, [])
    tops = log_tree.frontier(conn, last.idx + 1)
    return GrownTree(last.idx + 1, merkle.fold(tops), last.seq, tops)


def store_head(conn: Connection, grown: GrownTree, key: SigningKey, at: datetime) -> TreeHead:
    """Sign ``grown`` and store it, unless a head at least as large is already stored (another
    process got there first): then that one is returned."""
    if conn.dialect.name == "postgresql":  # (SQLite's write transactions are serial already)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": HEAD_SIGNING_LOCK})
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
    """Sign the tree as it is now, the queue appended first, in one transaction (the
    caller's, which stores the head)."""
    sequence(conn)
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
