"""A receipt's entry in the tamper-evident log: the hash of its body, then its signature."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from services.verifier.domain.receipt import Receipt, receipt_entry

AT = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _receipt(body: bytes, signature: bytes) -> Receipt:
    return Receipt("R1", AT, "DEPT", None, "", "", body, "k1", "ed25519", signature)


def test_the_entry_hashes_the_body_then_the_signature():
    body = b'{"answers":[' + b'{"verdict":"valid"},' * 30_000 + b"{}]}"  # a batch's size
    entry = receipt_entry(_receipt(body, b"\x01" * 64))
    assert (entry.kind, entry.ref) == ("receipt", "R1")
    assert entry.payload_sha256 == hashlib.sha256(body + b"\x01" * 64).hexdigest()


def test_an_edit_of_the_body_or_the_signature_changes_the_entry():
    # Body and signature are hashed as one stream, as before: the entry pins both.
    a = receipt_entry(_receipt(b"body", b"sig"))
    assert a.payload_sha256 == hashlib.sha256(b"bodysig").hexdigest()
    assert receipt_entry(_receipt(b"bodY", b"sig")).payload_sha256 != a.payload_sha256
    assert receipt_entry(_receipt(b"body", b"siG")).payload_sha256 != a.payload_sha256
