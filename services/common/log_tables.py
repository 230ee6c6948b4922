"""The tamper-evident log's tables: leaves, stored subtree hashes, signed tree heads.

Kept apart from the code that writes and reads them (:mod:`services.common.audit_log`,
:mod:`services.common.log_tree`), which both need them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
)

from services.common.database import metadata

__all__ = ["audit_leaves", "audit_nodes", "audit_queue", "tree_heads"]

audit_leaves = Table(
    "audit_leaves",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    # The leaf's position in the tree, 0, 1, 2, … without gaps: allocated under the log's
    # append lock (seq is the row's key; a PostgreSQL sequence may skip numbers on rollback).
    Column("idx", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(128), nullable=False, index=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_audit_leaves_idx", "idx", unique=True),
)

# Entries written in their record's transaction, waiting for the sequencer to append them to
# the tree (services.common.audit_log.queue / sequence); a handful at any time, so no index.
audit_queue = Table(
    "audit_queue",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("kind", String(32), nullable=False),
    Column("ref", String(128), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

# Every perfect subtree of level >= 1 (2**level leaves from idx * 2**level), stored as it is
# completed, so proofs read O(log n) hashes (services.common.log_tree).
audit_nodes = Table(
    "audit_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
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
