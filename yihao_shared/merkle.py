"""RFC 6962 (Certificate Transparency) Merkle tree hashing, proofs and proof verification.

The tree over entries ``D[0:n]`` is defined by RFC 6962 §2.1, with SHA-256 and one-byte
domain separation between leaves and interior nodes (so a leaf can never be passed off as a
node or the other way round)::

    MTH({})       = SHA-256()                                  the empty tree
    MTH({d0})     = SHA-256(0x00 || d0)                        a leaf hash
    MTH(D[0:n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  k = largest power of two < n

Splitting at the largest power of two (not the midpoint) makes the left subtree always
perfect, which is what lets a tree grow by appending without rehashing the past: the tree of
``n`` leaves is the perfect subtrees given by the binary digits of ``n``, largest first, folded
together from the right. :class:`MerkleTree` keeps exactly those subtree hashes (its
"frontier", ``O(log n)`` of them), and :func:`root` gets the same value bottom-up by pairing
nodes level by level and carrying an unpaired last node up unchanged.

Every function here works on *leaf hashes* (``leaf_hash(entry)``), never on raw entries:
callers hash each entry once and store the 32-byte results.

* :func:`inclusion_proof` is ``PATH(m, D[n])`` (RFC 6962 §2.1.1): the sibling hashes from the
  leaf up to the root, nearest first; :func:`verify_inclusion` is RFC 9162 §2.1.3.2.
* :func:`consistency_proof` is ``PROOF(m, D[n])`` (RFC 6962 §2.1.2): the hashes showing the
  tree of ``m`` leaves is a prefix of the tree of ``n``; :func:`verify_consistency` is
  RFC 9162 §2.1.4.2.

The verifiers never raise: anything malformed (wrong types, negative or inconsistent sizes,
hashes that are not 32 bytes) is simply not a valid proof and gives ``False``.

An inclusion proof binds the leaf's index but not, on its own, the tree size: proofs for
some pairs of sizes have the same shape (e.g. leaf 0 in trees of 5 and 6 leaves), so a proof
checks against ``(tree_size, root_hash)`` as a pair, the way a signed tree head carries them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "Node",
    "consistency_proof",
    "consistency_ranges",
    "fold",
    "frontier_nodes",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "root",
    "subtree_nodes",
    "verify_consistency",
    "verify_inclusion",
]

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

#: Size in bytes of every hash in the tree (SHA-256).
HASH_SIZE = 32

#: Root of the empty tree: SHA-256 of the empty string.
EMPTY_ROOT: bytes = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of one entry as a leaf: ``SHA-256(0x00 || data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly less than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _next_level(level: list[bytes]) -> list[bytes]:
    """Hash adjacent pairs; an unpaired last node moves up unchanged."""
    parents = [
        _sha256(_NODE_PREFIX + left + right).digest()
        for left, right in zip(level[0::2], level[1::2], strict=False)
    ]
    if len(level) % 2:
        parents.append(level[-1])
    return parents


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH`` of a tree given its leaf hashes (RFC 6962 §2.1), in ``n - 1`` node hashes.

    Computed bottom-up, level by level; carrying an unpaired node up unchanged gives exactly
    the split at the largest power of two. A single leaf's root is its leaf hash, and the
    empty tree's is :data:`EMPTY_ROOT`.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def _subtree_root(leaf_hashes: Sequence[bytes], start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` for a non-empty range."""
    return root(leaf_hashes[start:end])


#: A perfect (complete) subtree: ``(level, index)`` covers leaves
#: ``index * 2**level .. (index + 1) * 2**level - 1``; level 0 is a leaf. Its hash never
#: changes once the tree has grown past it, which is what makes it worth storing.
Node = tuple[int, int]


def subtree_nodes(start: int, end: int) -> list[Node]:
    """The perfect subtrees that ``D[start:end]`` is made of, largest (leftmost) first.

    For every range a proof names (RFC 6962 splits at powers of two, so ``start`` is a
    multiple of the range's largest power of two), they are the binary digits of
    ``end - start`` and :func:`fold` of their hashes is ``MTH(D[start:end])``.
    """
    nodes: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)  # start's alignment
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def frontier_nodes(size: int) -> list[Node]:
    """The perfect subtrees the tree of ``size`` leaves is made of (its frontier)."""
    return subtree_nodes(0, size)


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root over perfect subtrees given largest first, folded from the right."""
    result = hashes[-1]
    for subtree in reversed(hashes[:-1]):
        result = node_hash(subtree, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make ``PATH(index, D[size])`` (RFC 6962 §2.1.1), nearest
    the leaf first: walk down from the root keeping the half that holds the leaf.
    Raises :class:`IndexError` unless ``0 <= index < size``."""
    if not 0 <= index < size:
        raise IndexError(f"leaf index {index} is outside a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []  # root end first; reversed at the end
    start, end = 0, size
    while end - start > 1:
        middle = start + _split(end - start)
        if index < middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make ``PROOF(old_size, D[size])`` (RFC 6962 §2.1.2).

    The iterative form of ``SUBPROOF``: walk down from the root towards the old tree's right
    edge, recording the range not taken at each step; if the walk ever turns right (the old
    tree is not a perfect left subtree) the range it ends at is recorded too. Empty when
    ``old_size == size``. Raises :class:`ValueError` unless ``0 < old_size <= size``.
    """
    if not 0 < old_size <= size:
        raise ValueError(f"old size {old_size} is not within 1..{size} for a consistency proof")
    ranges: list[tuple[int, int]] = []  # root end first; reversed at the end
    start, end, complete = 0, size, True
    while old_size - start < end - start:
        middle = start + _split(end - start)
        if old_size <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start, complete = middle, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """``PATH(index, D[n])`` (RFC 6962 §2.1.1) from every leaf hash: sibling hashes from the
    leaf up to the root. The siblings cover every other leaf once, so this costs ``O(n)``;
    the log serves proofs from stored subtrees instead (:mod:`services.common.log_tree`).
    Raises :class:`IndexError` unless ``0 <= index < len(leaf_hashes)``.
    """
    ranges = inclusion_ranges(index, len(leaf_hashes))
    return [_subtree_root(leaf_hashes, start, end) for start, end in ranges]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """``PROOF(old_size, D[n])`` (RFC 6962 §2.1.2) from every leaf hash (``O(n)``; see
    :func:`inclusion_proof`). Raises :class:`ValueError` unless ``0 < old_size <= n``."""
    ranges = consistency_ranges(old_size, len(leaf_hashes))
    return [_subtree_root(leaf_hashes, start, end) for start, end in ranges]


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hash_list(proof: object) -> list[bytes] | None:
    """``proof`` as a list of 32-byte hashes, or ``None`` if it is anything else."""
    if isinstance(proof, (bytes, str)) or not isinstance(proof, Iterable):
        return None
    items = list(proof)
    return items if all(_is_hash(item) for item in items) else None


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift both until ``fn`` is odd or zero (RFC 9162 §2.1.3.2 step 4.b.ii)."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root_hash``.

    RFC 9162 §2.1.3.2. ``leaf`` is the leaf *hash* (``leaf_hash(entry)``), as in the RFC.
    Never raises: malformed input is an invalid proof.
    """
    path = _hash_list(proof)
    if path is None or not (_is_hash(leaf) and _is_hash(root_hash)):
        return False
    if not (_is_size(index) and _is_size(tree_size)) or index >= tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_while_even(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree ``(old_size, old_root)`` is a prefix of the new one.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Equal sizes are consistent exactly
    when the roots are equal and the proof is empty; the empty tree (whose root must be
    :data:`EMPTY_ROOT`) is a prefix of every tree, with an empty proof. Never raises.
    """
    path = _hash_list(proof)
    if path is None or not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        return False
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not path and old_root == new_root
    return _verify_consistency_path(old_size, new_size, old_root, new_root, path)


def _verify_consistency_path(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2 steps 1-7, for ``0 < old_size < new_size`` and well-formed input."""
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_while_even(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


class MerkleTree:
    """A tree that grows by appending leaf hashes, with its root always a few hashes away.

    Keeps only the frontier: the roots of the perfect subtrees that the binary digits of
    :attr:`size` split the tree into, largest (leftmost) first. Appending merges equal-sized
    subtrees like a binary counter carrying (amortised ``O(1)`` hashes); :meth:`root` folds
    the ``O(log n)`` frontier from the right and equals :func:`root` of every leaf so far.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._size = 0
        self._frontier: list[bytes] = []
        for leaf in leaf_hashes:
            self.append(leaf)

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf (its hash, ``leaf_hash(entry)``) at the right edge."""
        node, carry = leaf_hash, self._size
        while carry & 1:  # a subtree of the same size is on the left: merge
            node = node_hash(self._frontier.pop(), node)
            carry >>= 1
        self._frontier.append(node)
        self._size += 1

    @classmethod
    def resume(cls, size: int, frontier: Sequence[bytes]) -> MerkleTree:
        """The tree of ``size`` leaves whose :attr:`frontier` was ``frontier``."""
        if len(frontier) != bin(size).count("1"):
            raise ValueError(f"a tree of {size} leaves has {bin(size).count('1')} subtrees")
        tree = cls()
        tree._size, tree._frontier = size, list(frontier)
        return tree

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """The roots of the perfect subtrees, largest (leftmost) first."""
        return list(self._frontier)

    def root(self) -> bytes:
        """``MTH`` of every leaf so far (:data:`EMPTY_ROOT` when empty)."""
        if not self._frontier:
            return EMPTY_ROOT
        result = self._frontier[-1]
        for subtree in reversed(self._frontier[:-1]):
            result = node_hash(subtree, result)
        return result
