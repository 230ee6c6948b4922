"""Tests of services.common.merkle against RFC 6962 §2.1 and RFC 9162 §2.1.3.2 / §2.1.4.2.

Expected values come from the short recursive reference below, written straight from the
RFC 6962 definitions of MTH, PATH and PROOF/SUBPROOF over raw entries (hashlib only, nothing
from the module under test), and from the published Certificate Transparency test vectors,
which the reference is checked against first.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

# --- independent reference implementation (RFC 6962 §2.1, recursive) ----------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_leaf(entry: bytes) -> bytes:
    return sha(b"\x00" + entry)


def ref_k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return sha(b"")
    if len(d) == 1:
        return ref_leaf(d[0])
    k = ref_k(len(d))
    return sha(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# The same recursions over sizes only, recording the side each proof hash sits on. A
# verifier rebuilds a root from the proof by this shape alone, so (barring a SHA-256
# collision) a proof checks against other sizes exactly when their shape is the same.


def ref_path_sides(m: int, n: int) -> list[str]:
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path_sides(m, k), "right"]
    return [*ref_path_sides(m - k, n - k), "left"]


def ref_proof_sides(m: int, n: int, b: bool = True) -> list[str]:
    if m == n:
        return [] if b else ["seed"]
    k = ref_k(n)
    if m <= k:
        return [*ref_proof_sides(m, k, b), "right"]
    return [*ref_proof_sides(m - k, n - k, False), "left"]


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


# --- Certificate Transparency test vectors ------------------------------------------------

CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [  # the root of the first n entries, n = 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
H_01 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
H_23 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
H_4567 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
H_4 = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
H_45 = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
H_67 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
CT_INCLUSION = [  # (index, tree size, PATH)
    (0, 1, []),
    (0, 8, [H_01, H_23, H_4567]),
    (5, 8, [H_4, H_67, CT_ROOTS[4]]),
    (2, 3, [CT_ROOTS[2]]),
    (1, 5, [CT_ROOTS[1], H_23, H_4]),
]
CT_CONSISTENCY = [  # (old size, new size, PROOF)
    (1, 1, []),
    (1, 8, [H_01, H_23, H_4567]),
    (6, 8, [H_45, H_67, CT_ROOTS[4]]),
    (2, 5, [H_23, H_4]),
]


def hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_the_reference_reproduces_the_ct_vectors() -> None:
    assert [ref_mth(CT_ENTRIES[:n]).hex() for n in range(9)] == CT_ROOTS
    for index, size, path in CT_INCLUSION:
        assert hexes(ref_path(index, CT_ENTRIES[:size])) == path
    for old, new, proof in CT_CONSISTENCY:
        assert hexes(ref_proof(old, CT_ENTRIES[:new])) == proof


def test_the_module_reproduces_the_ct_vectors() -> None:
    leaves = [leaf_hash(e) for e in CT_ENTRIES]
    assert [root(leaves[:n]).hex() for n in range(9)] == CT_ROOTS
    for index, size, path in CT_INCLUSION:
        assert hexes(inclusion_proof(leaves[:size], index)) == path
        proof = [bytes.fromhex(h) for h in path]
        root_hash = bytes.fromhex(CT_ROOTS[size])
        assert verify_inclusion(leaves[index], index, size, proof, root_hash)
    for old, new, path in CT_CONSISTENCY:
        assert hexes(consistency_proof(leaves[:new], old)) == path
        proof = [bytes.fromhex(h) for h in path]
        old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
        assert verify_consistency(old, new, old_root, new_root, proof)


def test_hash_primitives() -> None:
    assert EMPTY_ROOT == sha(b"") == bytes.fromhex(CT_ROOTS[0])
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    left, right = sha(b"l"), sha(b"r")
    assert node_hash(left, right) == sha(b"\x01" + left + right)
    assert node_hash(left, right) != node_hash(right, left)


# --- agreement with the reference ---------------------------------------------------------

entry_lists = st.lists(st.binary(max_size=12), max_size=70)
# Distinct entries, so no leaf can stand in for another one at a different index.
distinct_entry_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True)


@settings(max_examples=60, deadline=None)
@given(entry_lists)
def test_everything_matches_the_reference(entries: list[bytes]) -> None:
    leaves = [ref_leaf(e) for e in entries]
    n = len(leaves)
    assert root(leaves) == ref_mth(entries)
    roots = [ref_mth(entries[:m]) for m in range(n + 1)]
    for index in range(n):
        path = inclusion_proof(leaves, index)
        assert path == ref_path(index, entries)
        assert verify_inclusion(leaves[index], index, n, path, roots[n])
    for m in range(1, n + 1):
        proof = consistency_proof(leaves, m)
        assert proof == ref_proof(m, entries)
        assert verify_consistency(m, n, roots[m], roots[n], proof)


@pytest.mark.parametrize("n", [127, 128, 129, 1023, 1024, 1025])
def test_power_of_two_boundaries(n: int) -> None:
    entries = [i.to_bytes(2, "big") for i in range(n)]
    leaves = [ref_leaf(e) for e in entries]
    assert root(leaves) == ref_mth(entries)
    for index in (0, n // 2, n - 2, n - 1):
        assert inclusion_proof(leaves, index) == ref_path(index, entries)
    for m in (1, n // 2, n - 1, n):
        assert consistency_proof(leaves, m) == ref_proof(m, entries)


# --- verification rejects everything else -------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(distinct_entry_lists, st.data())
def test_inclusion_rejects_tampering(entries: list[bytes], data: st.DataObject) -> None:
    leaves = [ref_leaf(e) for e in entries]
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    leaf, root_hash, path = leaves[index], ref_mth(entries), ref_path(index, entries)
    assert verify_inclusion(leaf, index, n, path, root_hash)

    for i, element in enumerate(path):
        for position in range(32):
            bad = [*path[:i], flip(element, position, mask), *path[i + 1 :]]
            assert not verify_inclusion(leaf, index, n, bad, root_hash)
    for position in range(32):
        assert not verify_inclusion(flip(leaf, position, mask), index, n, path, root_hash)
        assert not verify_inclusion(leaf, index, n, path, flip(root_hash, position, mask))
    for other_root in (EMPTY_ROOT, leaf, ref_mth(entries[:-1]), sha(b"some other tree")):
        if other_root != root_hash:  # a one-leaf tree's root is its leaf
            assert not verify_inclusion(leaf, index, n, path, other_root)

    for wrong_index in range(-2, n + 3):
        if wrong_index != index:
            assert not verify_inclusion(leaf, wrong_index, n, path, root_hash)
    # Another size passes only where the proof has the very same shape (see module docstring).
    for size in range(-2, 2 * n + 3):
        same_shape = 0 <= index < size and ref_path_sides(index, size) == ref_path_sides(index, n)
        assert verify_inclusion(leaf, index, size, path, root_hash) == same_shape

    extras = (root_hash, leaf, sha(b"extra"), *path[:1])
    for bad in (path[:-1], path[1:], *([*path, x] for x in extras), *([x, *path] for x in extras)):
        if bad != path:
            assert not verify_inclusion(leaf, index, n, bad, root_hash)


@settings(max_examples=60, deadline=None)
@given(distinct_entry_lists.filter(lambda e: len(e) > 1), st.data())
def test_consistency_rejects_tampering(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    m = data.draw(st.integers(1, n - 1), label="old size")
    mask = data.draw(st.integers(1, 255), label="mask")
    old_root, new_root, proof = ref_mth(entries[:m]), ref_mth(entries), ref_proof(m, entries)
    assert verify_consistency(m, n, old_root, new_root, proof)

    for i, element in enumerate(proof):
        for position in range(32):
            bad = [*proof[:i], flip(element, position, mask), *proof[i + 1 :]]
            assert not verify_consistency(m, n, old_root, new_root, bad)
    for position in range(32):
        assert not verify_consistency(m, n, flip(old_root, position, mask), new_root, proof)
        assert not verify_consistency(m, n, old_root, flip(new_root, position, mask), proof)
    assert not verify_consistency(m, n, new_root, old_root, proof)
    assert not verify_consistency(m, n, EMPTY_ROOT, new_root, proof)
    assert not verify_consistency(m, n, old_root, ref_mth(entries[:-1]), proof)

    # Other sizes pass only where the proof has the very same shape.
    for old in range(-1, n + 2):
        for new in (old, old + 1, n - 1, n, n + 1, 2 * n):
            same_shape = 0 < old < new and ref_proof_sides(old, new) == ref_proof_sides(m, n)
            assert verify_consistency(old, new, old_root, new_root, proof) == same_shape

    extras = (old_root, new_root, sha(b"extra"), proof[0])
    bads = (proof[:-1], proof[1:], [], *([*proof, x] for x in extras))
    for bad in (*bads, *([x, *proof] for x in extras)):
        assert not verify_consistency(m, n, old_root, new_root, bad)


def test_a_proof_checks_against_a_size_and_root_together() -> None:
    # Leaf 0's path in trees of 5 and of 6 leaves has the same shape, so the 5-leaf proof
    # "verifies" with size 6 and the 5-leaf root: the root is what pins the tree down.
    leaves = [leaf_hash(bytes([i])) for i in range(6)]
    path, root5 = inclusion_proof(leaves[:5], 0), root(leaves[:5])
    assert verify_inclusion(leaves[0], 0, 6, path, root5)
    assert not verify_inclusion(leaves[0], 0, 6, path, root(leaves))


def test_equal_and_empty_sizes_are_consistent_without_a_proof() -> None:
    a, b = sha(b"a"), sha(b"b")
    assert verify_consistency(3, 3, a, a, [])
    assert not verify_consistency(3, 3, a, b, [])
    assert not verify_consistency(3, 3, a, a, [b])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, a, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, a, [])
    assert not verify_consistency(0, 5, a, b, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, a, [b])
    assert not verify_consistency(5, 4, a, b, [b])


def test_inclusion_in_the_empty_or_a_one_leaf_tree() -> None:
    leaf = leaf_hash(b"only")
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, 0, 1, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf, 1, 1, [], leaf)


H = sha(b"h")
BAD_INCLUSION: list[tuple[Any, ...]] = [
    (H, -1, 4, [H, H], H),
    (H, 0, -4, [H, H], H),
    (H, 2**70, 2**71, [H] * 3, H),
    (H, 0.0, 1, [], H),
    (H, True, 2, [H], H),
    (H, "0", 1, [], H),
    (H, None, 1, [], H),
    (H, 0, None, [], H),
    (H, 0, 2, [H[:31]], H),
    (H, 0, 2, [H + b"\x00"], H),
    (H, 0, 2, [bytearray(H)], H),
    (H, 0, 2, ["x" * 32], H),
    (H, 0, 2, [None], H),
    (H, 0, 2, None, H),
    (H, 0, 2, 5, H),
    (H, 0, 2, H, H),
    (H[:16], 0, 1, [], H[:16]),
    (b"", 0, 1, [], b""),
    ("h" * 32, 0, 1, [], "h" * 32),
    (None, 0, 1, [], None),
]
BAD_CONSISTENCY: list[tuple[Any, ...]] = [
    (-1, 4, H, H, [H]),
    (1, -4, H, H, [H]),
    (3, 2, H, H, [H]),
    (1.0, 2, H, H, [H]),
    (1, "2", H, H, [H]),
    (None, 2, H, H, [H]),
    (2**70, 2**71, H, H, [H] * 3),
    (1, 2, H, H, [H[:31]]),
    (1, 2, H, H, [None]),
    (1, 2, H, H, None),
    (1, 2, H, H, H),
    (1, 2, H[:31], H, [H]),
    (1, 2, H, None, [H]),
    (2, 2, b"", b"", []),
    (0, 0, None, None, []),
]


@pytest.mark.parametrize("args", BAD_INCLUSION)
def test_verify_inclusion_never_raises(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize("args", BAD_CONSISTENCY)
def test_verify_consistency_never_raises(args: tuple[Any, ...]) -> None:
    assert verify_consistency(*args) is False


def test_proof_builders_reject_bad_arguments() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    for index in (-1, 5, 100):
        with pytest.raises(IndexError):
            inclusion_proof(leaves, index)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)
    for old_size in (-1, 0, 6):
        with pytest.raises(ValueError):
            consistency_proof(leaves, old_size)
    assert consistency_proof(leaves, 5) == []
    assert inclusion_proof(leaves[:1], 0) == []


# --- the incremental tree -----------------------------------------------------------------


def test_incremental_tree_matches_root_at_every_size() -> None:
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(300)]
    tree = MerkleTree()
    assert tree.size == 0
    assert tree.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        tree.append(leaf)
        assert tree.size == n
        assert tree.root() == root(leaves[:n])
    assert MerkleTree(leaves[:77]).root() == root(leaves[:77])
    assert MerkleTree(iter(leaves)).size == 300


def test_a_tree_resumed_from_its_frontier_grows_like_the_original() -> None:
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(200)]
    for cut in (0, 1, 2, 7, 64, 99):
        saved = MerkleTree(leaves[:cut])
        resumed = MerkleTree.resume(saved.size, saved.frontier)
        for leaf in leaves[cut:]:
            resumed.append(leaf)
        assert (resumed.size, resumed.root()) == (200, root(leaves))
    with pytest.raises(ValueError):
        MerkleTree.resume(7, MerkleTree(leaves[:6]).frontier)  # 6 has two subtrees, 7 three


@settings(max_examples=30, deadline=None)
@given(entry_lists)
def test_incremental_tree_matches_the_reference(entries: list[bytes]) -> None:
    tree = MerkleTree(ref_leaf(e) for e in entries)
    assert tree.size == len(entries)
    assert tree.root() == ref_mth(entries)


def test_large_tree_proofs_verify() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(5000)]
    root_hash = MerkleTree(leaves).root()
    assert root(leaves) == root_hash
    for index in (0, 1, 2047, 4095, 4096, 4999):
        proof = inclusion_proof(leaves, index)
        assert verify_inclusion(leaves[index], index, 5000, proof, root_hash)
    for old_size in (1, 3, 1024, 4097, 4999):
        proof = consistency_proof(leaves, old_size)
        assert verify_consistency(old_size, 5000, root(leaves[:old_size]), root_hash, proof)
