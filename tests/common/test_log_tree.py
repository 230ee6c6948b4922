"""Proofs served from stored subtree hashes, checked against RFC 6962 written out naively.

The reference below is RFC 6962 §2.1 as printed (MTH, PATH, PROOF/SUBPROOF, recursive over
raw entries, hashlib only): it shares nothing with services.common.merkle or log_tree. The
stored tree is built through the log's own append path on both backends, in appends of
varying sizes, and every proof and root it serves must equal the reference's and pass the
RFC 9162 verifiers. A read counter shows a proof reads O(log n) stored hashes.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from services.common import audit_log, log_tree, merkle
from services.common.audit_log import Entry
from services.common.database import Database
from services.common.log_tables import audit_nodes
from services.common.migrate import upgrade

AT = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)

# --- RFC 6962 §2.1, word for word ------------------------------------------------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return sha(b"")
    if len(d) == 1:
        return sha(b"\x00" + d[0])
    k = k_of(len(d))
    return sha(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = k_of(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = k_of(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


# --- the stored tree --------------------------------------------------------------------------


def entry(i: int) -> Entry:
    return Entry("test", f"T{i}", hashlib.sha256(str(i).encode()).hexdigest())


def raw(i: int) -> bytes:
    """The entry bytes the leaf hashes (what MTH takes as d[i])."""
    return audit_log.leaf_data(entry(i))


def fill(db: Database, n: int, sizes: list[int]) -> None:
    """Append entries 0..n-1 through the log's append path, in appends of ``sizes`` cycling."""
    done, turn = 0, 0
    while done < n:
        count = min(sizes[turn % len(sizes)], n - done)
        with db.transaction() as conn:
            audit_log.append(conn, [entry(i) for i in range(done, done + count)], AT)
        done, turn = done + count, turn + 1


def test_every_proof_and_root_up_to_64_leaves_is_the_rfcs(db: Database) -> None:
    n = 64
    fill(db, n, [1, 2, 3, 1, 5, 8, 1, 13])
    d = [raw(i) for i in range(n)]
    with db.read() as conn:
        for size in range(1, n + 1):
            prefix = d[:size]
            top = mth(prefix)
            assert log_tree.root_at(conn, size) == top
            for index in range(size):
                got = log_tree.inclusion_proof(conn, index, size)
                assert got == path(index, prefix), (index, size)
                leaf = merkle.leaf_hash(prefix[index])
                assert merkle.verify_inclusion(leaf, index, size, got, top)
            for old in range(1, size + 1):
                got = log_tree.consistency_proof(conn, old, size)
                assert got == proof(old, prefix), (old, size)
                assert merkle.verify_consistency(old, size, mth(d[:old]), top, got)


def test_the_stored_nodes_are_exactly_the_perfect_subtrees(db: Database) -> None:
    n = 45
    fill(db, n, [7, 1, 4])
    d = [raw(i) for i in range(n)]
    with db.read() as conn:
        stored = {(r.level, r.idx): bytes(r.hash) for r in conn.execute(select(audit_nodes))}
    expected = {
        (level, i): mth(d[i << level : (i + 1) << level])
        for level in range(1, 6)
        for i in range(n >> level)
    }
    assert stored == expected


def _stored_nodes_are_the_rfcs(db: Database, n: int) -> None:
    d = [raw(i) for i in range(n)]
    with db.read() as conn:
        stored = {(r.level, r.idx): bytes(r.hash) for r in conn.execute(select(audit_nodes))}
        assert log_tree.root_at(conn, n) == mth(d)
    levels = range(1, max(2, n.bit_length() + 1))
    expected = {(lv, i): mth(d[i << lv : (i + 1) << lv]) for lv in levels for i in range(n >> lv)}
    assert stored == expected


def test_appends_from_two_processes_in_turn_build_the_rfcs_tree(
    db: Database, database_url: str
) -> None:
    """Each process remembers the frontier after its own last append; another process's
    appends in between make it read the frontier again rather than build on a stale one."""
    other = Database(database_url)  # a second process's Database on the same store
    try:
        done = 0
        for turn, count in enumerate([3, 1, 4, 1, 5, 9, 2, 6, 5, 3]):
            writer = db if turn % 3 else other
            with writer.transaction() as conn:
                audit_log.append(conn, [entry(i) for i in range(done, done + count)], AT)
            done += count
        _stored_nodes_are_the_rfcs(db, done)
    finally:
        other.dispose()


def test_an_append_rolled_back_is_not_built_on(db: Database) -> None:
    fill(db, 5, [5])
    with pytest.raises(RuntimeError), db.transaction() as conn:
        audit_log.append(conn, [entry(i) for i in range(5, 8)], AT)  # remembered, then undone
        raise RuntimeError("the caller's transaction fails after the append")
    with db.transaction() as conn:
        audit_log.append(conn, [entry(i) for i in range(5, 12)], AT)
    _stored_nodes_are_the_rfcs(db, 12)


def test_random_pairs_in_a_few_thousand_leaves(db: Database) -> None:
    n = 3000
    fill(db, n, [1, 500, 37, 999, 2])
    d = [raw(i) for i in range(n)]
    rng = random.Random(19)
    with db.read() as conn:
        assert log_tree.root_at(conn, n) == mth(d)
        for _ in range(60):
            size = rng.randint(1, n)
            index, old = rng.randrange(size), rng.randint(1, size)
            prefix = d[:size]
            top = mth(prefix)
            inclusion = log_tree.inclusion_proof(conn, index, size)
            assert inclusion == path(index, prefix)
            assert merkle.verify_inclusion(merkle.leaf_hash(d[index]), index, size, inclusion, top)
            consistency = log_tree.consistency_proof(conn, old, size)
            assert consistency == proof(old, prefix)
            assert merkle.verify_consistency(old, size, mth(d[:old]), top, consistency)


def test_a_missing_stored_hash_is_named_not_guessed(db: Database) -> None:
    fill(db, 8, [8])
    with db.transaction() as conn:
        conn.execute(audit_nodes.delete().where(audit_nodes.c.level == 2))
    with db.read() as conn, pytest.raises(log_tree.LogIncomplete, match="level 2, index 1"):
        log_tree.inclusion_proof(conn, 0, 8)


def test_proofs_read_o_log_n_stored_hashes(tmp_path: object) -> None:
    """n = 100,000: every proof reads at most 2*log2(n) + 2 hashes, in at most 2 queries."""
    db = Database(f"sqlite:///{tmp_path}/big.db")
    upgrade(db)
    n = 100_000
    fill(db, n, [20_000])
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    counted: list[int] = []
    real_read = log_tree.read
    with db.read() as conn:
        hashes = audit_log.leaf_hashes(conn)
    assert hashes == [merkle.leaf_hash(raw(i)) for i in range(n)]
    levels = [hashes]
    while len(levels[-1]) > 1:  # every perfect subtree, bottom-up, in memory
        below = levels[-1]
        levels.append(
            [merkle.node_hash(a, b) for a, b in zip(below[0::2], below[1::2], strict=False)]
        )

    def real_root(size: int) -> bytes:
        keys = merkle.frontier_nodes(size)
        return merkle.fold([levels[level][i] for level, i in keys])

    def counting_read(conn: object, keys: object) -> dict[merkle.Node, bytes]:
        found = real_read(conn, keys)  # type: ignore[arg-type]
        counted.append(len(found))
        return found

    bound = 2 * math.log2(n) + 2

    def reads_of(make: Callable[[], object]) -> object:
        counted.clear()
        statements.clear()
        out = make()
        assert 0 < sum(counted) <= bound
        assert len(statements) <= 2
        return out

    rng = random.Random(5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(log_tree, "read", counting_read)
        with db.read() as conn:
            for _ in range(200):
                size, index = rng.randint(n // 2, n), rng.randrange(n // 2)
                old = rng.randint(1, size)
                top, old_top = real_root(size), real_root(old)
                path = reads_of(lambda: log_tree.inclusion_proof(conn, index, size))  # noqa: B023
                leaf = merkle.leaf_hash(raw(index))
                assert merkle.verify_inclusion(leaf, index, size, path, top)  # type: ignore[arg-type]
                proof = reads_of(lambda: log_tree.consistency_proof(conn, old, size))  # noqa: B023
                assert merkle.verify_consistency(old, size, old_top, top, proof)  # type: ignore[arg-type]
                assert reads_of(lambda: log_tree.root_at(conn, size)) == top  # noqa: B023
    db.dispose()
