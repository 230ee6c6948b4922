"""What a receipt's signature covers: its body's SHA-256 under a context, or (receipts made
before) its body, as the algorithm the receipt states says."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from services.common.signing import SigningKey
from services.verifier.domain.receipt import (
    DIGEST_CONTEXT,
    Receipt,
    digest_signature,
    digest_signed,
    receipt_entry,
    receipt_signature_holds,
    signed_part,
)

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KEY = SigningKey.generate("yihao-receipt-test1")
BODY = b'{"answers":[' + b'{"verdict":"valid"},' * 30_000 + b"{}]}"  # a batch's size


def test_receipts_state_the_digest_scheme_of_their_keys_algorithm():
    assert digest_signed("Ed25519") == "Ed25519-SHA256"


def test_a_digest_signed_receipt_signs_the_context_and_the_bodys_sha256():
    key_algorithm, signed = signed_part("Ed25519-SHA256", BODY)
    assert key_algorithm == "Ed25519"
    assert signed == b"yihao receipt body sha256\x00" + hashlib.sha256(BODY).digest()
    assert signed.startswith(DIGEST_CONTEXT) and len(signed) == len(DIGEST_CONTEXT) + 32


def test_a_receipt_made_before_signs_its_body():
    assert signed_part("Ed25519", BODY) == ("Ed25519", BODY)


def test_a_signature_holds_only_as_the_receipt_states_it_was_made():
    public = KEY.public()
    by_digest = KEY.sign(signed_part("Ed25519-SHA256", BODY)[1])
    by_body = KEY.sign(BODY)
    assert receipt_signature_holds(public, "Ed25519-SHA256", BODY, by_digest)
    assert receipt_signature_holds(public, "Ed25519", BODY, by_body)
    assert not receipt_signature_holds(public, "Ed25519", BODY, by_digest)
    assert not receipt_signature_holds(public, "Ed25519-SHA256", BODY, by_body)
    # One byte of the body changed: its digest changes, and the signature no longer holds.
    assert not receipt_signature_holds(public, "Ed25519-SHA256", BODY[:-1] + b" ", by_digest)
    # An algorithm the key is not of: never, even with the bytes right.
    assert not receipt_signature_holds(public, "Ed448-SHA256", BODY, by_digest)
    assert not receipt_signature_holds(public, "", BODY, by_body)


def test_signing_a_digest_hashes_the_body_once_for_the_signature_and_the_log_entry():
    signature, logged = digest_signature(KEY.sign, BODY)
    assert receipt_signature_holds(KEY.public(), "Ed25519-SHA256", BODY, signature)
    receipt = Receipt("R1", AT, "D", None, "", "", BODY, KEY.key_id, "Ed25519-SHA256", signature)
    assert logged == receipt_entry(receipt).payload_sha256
