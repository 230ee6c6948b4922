"""What a receipt's signature covers, through a real server: receipts made now are signed over
their body's SHA-256 and say so; receipts made before, signed over their body, still verify."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import update

from services.licence_store import demo
from services.verifier.domain.receipt import (
    Receipt,
    new_receipt_id,
    receipt_body_of,
    receipt_entry,
)
from services.verifier.persistence.tables import receipts
from services.verifier.receipts import _write_receipts
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"


def _licence(stack: Stack) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="receipt-schemes-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="RS-1",
            holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
            fields=BUSINESS_FIELDS,
        )
    )


def _check(stack: Stack, receipt_id: str) -> vpb.ReceiptCheck:
    return stack.verifier("supervision").VerifyReceipt(vpb.GetReceiptRequest(receipt_id=receipt_id))


def _offline(stack: Stack, receipt: vpb.Receipt) -> None:
    """Checks a receipt as a third party would, with the published key and nothing of ours:
    Ed25519 over the context and the body's SHA-256 (raises when it does not hold)."""
    keys = stack.verifier("hall").GetIssuerKeys(vpb.GetIssuerKeysRequest()).receipt_keys
    (key,) = [k for k in keys if k.key_id == receipt.signature.key_id]
    assert (key.algorithm, receipt.signature.algorithm) == ("Ed25519", "Ed25519-SHA256")
    signed = b"yihao receipt body sha256\x00" + hashlib.sha256(receipt.body_json.encode()).digest()
    public = load_pem_public_key(key.public_key_pem.encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(receipt.signature.value, signed)


def test_receipts_are_signed_over_their_bodys_digest_and_say_so(stack):
    licence = _licence(stack)
    one = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
    )
    chunk = vpb.VerifyBatchRequest(
        items=[vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))] * 3
    )
    (answered,) = stack.verifier("hall").VerifyBatch(iter([chunk]), timeout=30)
    for receipt_id in (one.receipt_id, answered.receipt_id):
        check = _check(stack, receipt_id)
        assert (check.authentic, check.reason) == (True, "SIGNATURE_AND_LOG_VERIFIED")
        _offline(stack, check.receipt)


def test_a_receipt_signed_over_its_body_as_before_still_verifies(stack):
    """A receipt as the verifier made them before (its key's algorithm, the body signed)."""
    key = stack.app.verifier.receipts.keys.signing_key()
    at = datetime.now(UTC)
    receipt_id = new_receipt_id(at)
    body = receipt_body_of(receipt_id, at, demo.ALIASES["hall"], [b'{"verdict":"not_found"}'])
    hall = demo.ALIASES["hall"]
    signature = key.sign(body)
    before = Receipt(receipt_id, at, hall, None, "", "", body, key.key_id, "Ed25519", signature)
    with stack.app.db.transaction() as conn:
        _write_receipts(conn, [(before, receipt_entry(before), [])])
    check = _check(stack, receipt_id)
    assert (check.authentic, check.reason) == (True, "SIGNATURE_AND_LOG_VERIFIED")
    assert check.receipt.signature.algorithm == "Ed25519"


def test_a_receipt_whose_stated_algorithm_was_edited_no_longer_verifies(stack):
    licence = _licence(stack)
    one = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
    )
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(receipts)
            .where(receipts.c.receipt_id == one.receipt_id)
            .values(algorithm="Ed25519")  # read as signed over the body: it was not
        )
    check = _check(stack, one.receipt_id)
    assert (check.authentic, check.reason) == (False, "SIGNATURE_INVALID")
