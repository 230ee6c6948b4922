"""RFC 6962 Merkle tree hashing and proofs: :mod:`yihao_shared.merkle`, re-exported here.

The module lives in ``yihao_shared`` because clients check proofs too (the web desk's holder
page checks an access record's inclusion in the signed log without importing server code).
"""

from __future__ import annotations

from yihao_shared.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MerkleTree,
    Node,
    consistency_proof,
    consistency_ranges,
    fold,
    frontier_nodes,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)

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
