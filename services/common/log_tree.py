"""Stored subtree hashes: proofs over the tamper-evident log in ``O(log n)`` reads.

A perfect subtree of the log's Merkle tree (``2**level`` leaves starting at a multiple of
``2**level``) has a hash that never changes once the tree has grown past it. As leaves are
appended, every subtree they complete is stored in ``audit_nodes`` under ``(level, index)``
(level 0 — the leaf hashes themselves — stays in ``audit_leaves`` under its tree index).
This is the layout of Trillian's subtree storage and of the stored hashes behind the Go
checksum database's tiles (``golang.org/x/mod/sumdb/tlog``), kept one row per node rather
than packed into tiles: a row is what both SQLite and PostgreSQL index best, and a proof then
reads exactly the nodes it needs.

Every hash a proof names (RFC 6962 ``PATH`` / ``PROOF``) is the root of a range of leaves
that is either one perfect subtree or a range ending at the tree's right edge, which is
made of the perfect subtrees given by the binary digits of its length
(:func:`merkle.subtree_nodes`). The right-edge ranges of one proof are nested, so they share
their subtrees: an inclusion or consistency proof, and a root, read at most about
``2 * log2(n)`` stored hashes, in two indexed queries. Appending ``k`` leaves reads the
``O(log n)`` frontier and writes about ``k`` nodes (a binary counter's carries).

The stored nodes are derived data: ``yihao audit verify`` recomputes them from the leaves
and names any that differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import Connection

from services.common import merkle
from services.common.bulk_insert import insert_many
from services.common.errors import FailedPrecondition
from services.common.log_tables import audit_leaves, audit_nodes
from services.common.merkle import Node

__all__ = [
    "LogIncomplete",
    "consistency_proof",
    "extend",
    "frontier",
    "inclusion_proof",
    "nodes_of",
    "read",
    "root_at",
]

_K = TypeVar("_K")

#: Keys per query (SQLite's default limit on bound parameters is 32,766; a proof needs ~50).
_CHUNK = 400


class LogIncomplete(FailedPrecondition):
    """A stored hash a proof needs is missing: the log's storage was damaged."""

    def __init__(self, missing: Iterable[Node]) -> None:
        first = min(missing, key=lambda n: (n[1] << n[0], n[0]))
        super().__init__(
            f"the log's stored hash at level {first[0]}, index {first[1]} is missing "
            "(run `yihao audit verify`)",
            reason="LOG_INCOMPLETE",
        )


def read(conn: Connection, keys: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of the perfect subtrees ``keys`` (raises :class:`LogIncomplete` if
    any is missing): one query for the leaves among them, one for the other nodes, each a
    primary-key search per key. The SQL goes straight to the driver — building a SQLAlchemy
    expression for ~40 keys cost several times the queries themselves."""
    wanted = set(keys)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    found: dict[Node, bytes] = {}
    leaves = sorted(i for level, i in wanted if level == 0)
    for part in _chunks(leaves):
        sql = (
            f"SELECT idx, leaf_hash FROM {audit_leaves.name} "
            f"WHERE idx IN ({', '.join([mark] * len(part))})"
        )
        for idx, hexed in conn.exec_driver_sql(sql, tuple(part)):
            found[(0, idx)] = bytes.fromhex(hexed)
    inner = sorted(k for k in wanted if k[0] > 0)
    for nodes in _chunks(inner):
        where, params = _keys_in(nodes, mark)
        sql = f"SELECT level, idx, hash FROM {audit_nodes.name} WHERE {where}"
        for level, idx, value in conn.exec_driver_sql(sql, params):
            found[(level, idx)] = bytes(value)
    if len(found) != len(wanted):
        raise LogIncomplete(wanted - found.keys())
    return found


def _keys_in(keys: Sequence[Node], mark: str) -> tuple[str, tuple[int, ...]]:
    """``(level, idx) IN keys`` as one primary-key range per level: SQLite scans the whole
    table for a row-value ``IN``, but searches the key for ``level = ? AND idx IN (…)``."""
    by_level: dict[int, list[int]] = {}
    for level, idx in keys:
        by_level.setdefault(level, []).append(idx)
    terms, params = [], []
    for level, idxs in sorted(by_level.items()):
        terms.append(f"(level = {mark} AND idx IN ({', '.join([mark] * len(idxs))}))")
        params += [level, *idxs]
    return " OR ".join(terms), tuple(params)


def _chunks(keys: Sequence[_K]) -> Iterator[Sequence[_K]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def frontier(conn: Connection, size: int) -> list[bytes]:
    """The hashes of the perfect subtrees the tree of ``size`` leaves is made of."""
    keys = merkle.frontier_nodes(size)
    hashes = read(conn, keys)
    return [hashes[k] for k in keys]


def root_at(conn: Connection, size: int) -> bytes:
    """``MTH`` of the first ``size`` leaves, from at most ``log2(size) + 1`` stored hashes."""
    return merkle.fold(frontier(conn, size)) if size else merkle.EMPTY_ROOT


def _ranges_hashes(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    plans = [merkle.subtree_nodes(start, end) for start, end in ranges]
    hashes = read(conn, {k for plan in plans for k in plan})
    return [merkle.fold([hashes[k] for k in plan]) for plan in plans]


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[size])`` from stored hashes (``O(log size)`` of them)."""
    return _ranges_hashes(conn, merkle.inclusion_ranges(index, size))


def consistency_proof(conn: Connection, old_size: int, size: int) -> list[bytes]:
    """``PROOF(old_size, D[size])`` from stored hashes (``O(log size)`` of them)."""
    return _ranges_hashes(conn, merkle.consistency_ranges(old_size, size))


def nodes_of(
    size: int, tops: Sequence[bytes], leaf_hashes: Iterable[bytes]
) -> Iterator[tuple[int, int, bytes]]:
    """The perfect subtrees ``(level, index, hash)``, level >= 1, completed by appending
    ``leaf_hashes`` to the tree of ``size`` leaves whose frontier hashes are ``tops``.

    A binary counter: a new leaf merges with the frontier's smallest subtree while they are
    the same size, and each merge is a newly completed node.
    """
    stack = [
        (level, idx, h) for (level, idx), h in zip(merkle.frontier_nodes(size), tops, strict=True)
    ]
    n = size
    for leaf in leaf_hashes:
        level, idx, h = 0, n, leaf
        while stack and stack[-1][0] == level:
            _, left_idx, left = stack.pop()
            level, idx, h = level + 1, left_idx >> 1, merkle.node_hash(left, h)
            yield level, idx, h
        stack.append((level, idx, h))
        n += 1


def extend(
    conn: Connection,
    size: int,
    leaf_hashes: Sequence[bytes],
    known: Mapping[Node, bytes] | None = None,
) -> dict[Node, bytes]:
    """Store the subtrees completed by the leaves just appended at ``size``, ``size + 1``, …
    (in the caller's transaction, which holds the log's append order). ``known``: frontier
    hashes the caller has already read (the last leaf's, typically)."""
    keys = merkle.frontier_nodes(size)
    have = dict(known or {})
    missing = [k for k in keys if k not in have]
    if missing:
        have.update(read(conn, missing))
    rows = list(nodes_of(size, [have[k] for k in keys], leaf_hashes))
    insert_many(conn, audit_nodes, ("level", "idx", "hash"), rows)
    return frontier_after(size, have, leaf_hashes, rows)


def frontier_after(
    size: int,
    before: Mapping[Node, bytes],
    leaf_hashes: Sequence[bytes],
    rows: Sequence[tuple[int, int, bytes]],
) -> dict[Node, bytes]:
    """The frontier hashes of the tree once ``leaf_hashes`` are appended at ``size`` (from the
    frontier before, the new leaves and the nodes they completed)."""
    new: dict[Node, bytes] = dict(before)
    new.update(((0, size + i), h) for i, h in enumerate(leaf_hashes))
    new.update(((level, idx), h) for level, idx, h in rows)
    return {k: new[k] for k in merkle.frontier_nodes(size + len(leaf_hashes))}
