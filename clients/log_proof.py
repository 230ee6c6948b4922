"""Checking, on the client's side, that a record is in the signed tamper-evident log.

:func:`check_inclusion` asks the server for the latest signed tree head, the log's public keys
and an inclusion proof for a log reference (``ref``: a receipt id, an assistance request id, an
access record's ``log_ref``), then checks everything itself, trusting nothing the server says
about the answer:

1. the head's signature (Ed25519) under a log key the server publishes
   (``GetIssuerKeys.receipt_keys``, purpose ``log``), over the head's canonical JSON;
2. the leaf hash is the hash of the entry the proof names (its kind, ref and payload hash);
3. the audit path leads from that leaf to the head's root (RFC 9162 §2.1.3.2,
   :func:`yihao_shared.merkle.verify_inclusion`).

A log key the caller pinned earlier (``trusted_keys``) is better than the one fetched with the
proof; without one, the check shows that the server's own published key signed a head that
includes the entry — a consistent story, which a separate monitor (``yihao audit monitor``)
keeps the server to over time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from clients.client import YihaoClient
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared import merkle
from yihao_shared.errors import FailedPrecondition, NotFound

__all__ = ["InclusionCheck", "check_inclusion", "head_bytes", "leaf_bytes"]


@dataclass(frozen=True)
class InclusionCheck:
    """The outcome: ``ok``, and ``reason`` (``INCLUDED`` or what failed) with the details."""

    ok: bool
    reason: str
    leaf_index: int = -1
    tree_size: int = 0
    root_hex: str = ""
    head_key_id: str = ""
    head_at: str = ""


def head_bytes(head: vpb.SignedTreeHead) -> bytes:
    """What a tree head's signature covers: canonical JSON of its size, root (hex) and time."""
    at = head.at.ToDatetime(tzinfo=UTC).isoformat()
    return bytes(
        rfc8785.dumps({"tree_size": head.tree_size, "root_hash": head.root_hash.hex(), "at": at})
    )


def leaf_bytes(kind: str, ref: str, payload_sha256: str) -> bytes:
    """What a leaf hashes: the entry's kind, ref and payload hash (never personal data)."""
    return bytes(rfc8785.dumps({"kind": kind, "ref": ref, "sha256": payload_sha256}))


def _head_signed(head: vpb.SignedTreeHead, keys: Mapping[str, bytes]) -> bool:
    pem = keys.get(head.key_id)
    if pem is None:
        return False
    try:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, ed25519.Ed25519PublicKey):
            return False
        key.verify(bytes(head.signature), head_bytes(head))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _published_keys(client: YihaoClient) -> dict[str, bytes]:
    found = client.get_issuer_keys(issuer_codes=[])
    return {k.key_id: k.public_key_pem.encode() for k in found.receipt_keys}


def check_inclusion(
    client: YihaoClient, ref: str, *, trusted_keys: Mapping[str, bytes] | None = None
) -> InclusionCheck:
    """Whether the log entry ``ref`` is in the latest signed head (signs a fresh head first,
    so an entry written a moment ago is covered). ``trusted_keys``: key id → PEM of log keys
    the caller already trusts (default: the keys the server publishes now)."""
    head = client.get_tree_head(fresh=True)
    try:
        proof = client.get_inclusion_proof(ref=ref, tree_size=head.tree_size)
    except NotFound:
        return InclusionCheck(False, "LOG_ENTRY_NOT_FOUND")
    except FailedPrecondition:
        return InclusionCheck(False, "NOT_YET_IN_SIGNED_HEAD")
    keys = dict(trusted_keys) if trusted_keys is not None else _published_keys(client)
    signed = proof.head
    found = InclusionCheck(
        False,
        "",
        leaf_index=proof.leaf_index,
        tree_size=signed.tree_size,
        root_hex=signed.root_hash.hex(),
        head_key_id=signed.key_id,
        head_at=signed.at.ToDatetime(tzinfo=UTC).isoformat(),
    )
    if not _head_signed(signed, keys):
        return replace(found, reason="TREE_HEAD_SIGNATURE_INVALID")
    leaf = merkle.leaf_hash(leaf_bytes(proof.kind, ref, proof.payload_sha256))
    if leaf != bytes(proof.leaf_hash):
        return replace(found, reason="LEAF_HASH_MISMATCH")
    path = [bytes(p) for p in proof.path]
    if not merkle.verify_inclusion(
        leaf, proof.leaf_index, signed.tree_size, path, signed.root_hash
    ):
        return replace(found, reason="NOT_INCLUDED")
    return replace(found, ok=True, reason="INCLUDED")
