"""The verifier through a real gRPC server, on SQLite and PostgreSQL: every verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import update

from services.common.clock import FixedClock
from services.licence_store import demo
from services.licence_store.persistence.tables import licence_versions
from services.verifier.persistence.tables import receipts
from testsupport.fuzz.harness import assert_answered, call
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"
OTHER_COMPANY = "91110000600037341L"
PERSON = "11010519491231002X"


def issue(stack: Stack, number: str = "V-1", holder: str = COMPANY, **extra: str) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"verify-test-{number}",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=number,
            holder=common.Holder(number=holder, name="福州示例科技有限公司"),
            fields=BUSINESS_FIELDS,
            **extra,
        )
    )


def verify(
    stack: Stack, licence_id: str, holder: str = "", name: str = "", **kw
) -> vpb.Verification:
    return stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(
            **WHY,
            licence=pb.LicenceRef(licence_id=licence_id),
            presented_holder_number=holder,
            presented_holder_name=name,
            **kw,
        )
    )


def change_status(stack: Stack, call: str, licence_id: str, code: str) -> None:
    getattr(stack.store("market"), call)(
        pb.StatusChangeRequest(licence=pb.LicenceRef(licence_id=licence_id), reason_code=code)
    )


def test_valid_with_holder_match_and_mismatch(stack):
    licence = issue(stack)
    right = verify(stack, licence.licence_id, COMPANY, "福州示例科技有限公司")
    assert right.verdict == vpb.VERDICT_VALID
    assert right.reason == "ALL_CHECKS_PASSED"
    assert (right.holder_number_match, right.holder_name_match) == (
        vpb.HOLDER_MATCH_MATCH,
        vpb.HOLDER_MATCH_MATCH,
    )
    assert right.signature_verified and right.receipt_id
    assert right.issuer_name == "福州市市场监督管理局"
    wrong = verify(stack, licence.licence_id, OTHER_COMPANY, "另一家公司")
    assert wrong.verdict == vpb.VERDICT_VALID
    assert (wrong.holder_number_match, wrong.holder_name_match) == (
        vpb.HOLDER_MATCH_MISMATCH,
        vpb.HOLDER_MATCH_MISMATCH,
    )
    none = verify(stack, licence.licence_id)
    assert none.holder_number_match == vpb.HOLDER_MATCH_NOT_PRESENTED
    # The stored holder is never revealed by a verification.
    assert COMPANY not in str(wrong) and "福州示例科技有限公司" not in str(wrong)


def test_name_match_ignores_width_and_spaces(stack):
    licence = issue(stack)
    assert (
        verify(stack, licence.licence_id, name=" 福州示例科技有限公司 ").holder_name_match
        == vpb.HOLDER_MATCH_MATCH
    )


def test_by_type_and_number(stack):
    issue(stack, number="TN-1")
    result = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(
                type_and_number=pb.TypeAndNumber(
                    type_code=demo.BUSINESS_LICENCE.type_code, licence_number="TN-1"
                )
            )
        )
    )
    assert result.verdict == vpb.VERDICT_VALID


@pytest.mark.parametrize(
    ("call", "code", "verdict"),
    [
        ("SuspendLicence", "INVESTIGATION", vpb.VERDICT_SUSPENDED),
        ("RevokeLicence", "FRAUD", vpb.VERDICT_REVOKED),
        ("CancelLicence", "HOLDER_DISSOLVED", vpb.VERDICT_CANCELLED),
    ],
)
def test_status_verdicts(stack, call, code, verdict):
    licence = issue(stack)
    change_status(stack, call, licence.licence_id, code)
    result = verify(stack, licence.licence_id, COMPANY)
    assert result.verdict == verdict
    assert result.status_reason_code == code


def test_expired_by_date_alone_and_not_yet_valid(stack, clock: FixedClock):
    expiring = issue(stack, number="E-1", valid_from="2025-01-01", valid_until="2026-06-30")
    future = issue(stack, number="F-1", valid_from="2026-09-01")
    assert verify(stack, expiring.licence_id).verdict == vpb.VERDICT_VALID
    assert verify(stack, future.licence_id).verdict == vpb.VERDICT_NOT_YET_VALID
    clock.set(datetime(2026, 6, 30, 16, 30, tzinfo=UTC))  # 1 July 00:30 in China
    result = verify(stack, expiring.licence_id)
    assert (result.verdict, result.reason) == (vpb.VERDICT_EXPIRED, "VALIDITY_ENDED")


def test_not_found_and_malformed_reference(stack):
    missing = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    assert verify(stack, missing).verdict == vpb.VERDICT_NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        verify(stack, missing[:-1] + "G")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_row_edited_in_the_database_is_not_valid(stack):
    licence = issue(stack)
    with stack.app.db.transaction() as conn:
        conn.execute(update(licence_versions).values(holder_name="篡改后的名称"))
    result = verify(stack, licence.licence_id)
    assert (result.verdict, result.reason) == (vpb.VERDICT_CANNOT_CHECK, "CONTENT_ALTERED")
    assert not result.signature_verified


def test_unknown_issuer_key_cannot_check(stack):
    licence = issue(stack)
    with stack.app.db.transaction() as conn:
        conn.execute(update(licence_versions).values(key_id="no-such-key"))
    result = verify(stack, licence.licence_id)
    assert (result.verdict, result.reason) == (vpb.VERDICT_CANNOT_CHECK, "ISSUER_KEY_UNKNOWN")


def test_rotated_key_still_verifies_what_it_signed(stack, clock: FixedClock):
    before = issue(stack, number="K-1")
    clock.advance(timedelta(minutes=1))
    stack.store("data").RotateSigningKey(
        pb.RotateSigningKeyRequest(credit_code=demo.ALIASES["market"])
    )
    clock.advance(timedelta(minutes=1))
    after = issue(stack, number="K-2")
    assert before.signature.key_id != after.signature.key_id
    assert verify(stack, before.licence_id).verdict == vpb.VERDICT_VALID
    assert verify(stack, after.licence_id).verdict == vpb.VERDICT_VALID


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def test_verdict_as_of_a_past_instant(stack, clock: FixedClock):
    t_issue = clock.now()
    licence = issue(stack)
    clock.advance(timedelta(days=10))
    change_status(stack, "RevokeLicence", licence.licence_id, "VIOLATION")
    assert verify(stack, licence.licence_id).verdict == vpb.VERDICT_REVOKED
    then = verify(stack, licence.licence_id, as_of=_ts(t_issue + timedelta(days=5)))
    assert then.verdict == vpb.VERDICT_VALID
    assert "status_timeline" in then.policy.checks
    before = verify(stack, licence.licence_id, as_of=_ts(t_issue - timedelta(days=1)))
    assert (before.verdict, before.reason) == (vpb.VERDICT_NOT_FOUND, "NOT_ISSUED_AT_THAT_TIME")


def test_receipts_are_durable_signed_and_detect_edits(stack):
    licence = issue(stack)
    valid = verify(stack, licence.licence_id, COMPANY)
    change_status(stack, "RevokeLicence", licence.licence_id, "FRAUD")
    revoked = verify(stack, licence.licence_id, COMPANY)
    for answer, verdict in ((valid, "valid"), (revoked, "revoked")):
        check = stack.verifier("supervision").VerifyReceipt(
            vpb.GetReceiptRequest(receipt_id=answer.receipt_id)
        )
        assert check.authentic, check.reason
        body = json.loads(check.receipt.body_json)
        assert body["requester"] == demo.ALIASES["hall"]
        assert body["answers"][0]["verdict"] == verdict
        assert body["answers"][0]["content_sha256"] == licence.content_sha256
        assert body["answers"][0]["asked"]["presented_holder_number"] == COMPANY  # public code
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(receipts)
            .where(receipts.c.receipt_id == valid.receipt_id)
            .values(body=receipts.c.body + " ")
        )
    edited = stack.verifier("hall").VerifyReceipt(
        vpb.GetReceiptRequest(receipt_id=valid.receipt_id)
    )
    assert (edited.authentic, edited.reason) == (False, "SIGNATURE_INVALID")


def test_person_numbers_are_masked_in_receipts(stack):
    stack.store("police").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="verify-test-person",
            type_code=demo.RESIDENCE_PERMIT.type_code,
            licence_number="R-1",
            holder=common.Holder(number=PERSON, name="张三"),
            fields={
                "sex": "男",
                "domicile": "北京市西城区",
                "residence_address": "福州市台江区",
                "issuing_office": "台江分局",
            },
        )
    )
    ref = pb.LicenceRef(
        type_and_number=pb.TypeAndNumber(
            type_code=demo.RESIDENCE_PERMIT.type_code, licence_number="R-1"
        )
    )
    answer = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(
            **WHY, licence=ref, presented_holder_number=PERSON, presented_holder_name="张三"
        )
    )
    assert answer.holder_number_match == vpb.HOLDER_MATCH_MATCH
    body = (
        stack.verifier("hall")
        .GetReceipt(vpb.GetReceiptRequest(receipt_id=answer.receipt_id))
        .body_json
    )
    assert PERSON not in body and "张三" not in body
    assert "110105********002X" in body


def test_document_exported_before_revocation_is_authentic_but_revoked(stack):
    licence = issue(stack)
    doc = stack.verifier("market").ExportDocument(
        vpb.ExportDocumentRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
    )
    fresh = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(signed_document=doc))
    assert (fresh.verdict, fresh.document_authentic) == (vpb.VERDICT_VALID, True)
    change_status(stack, "RevokeLicence", licence.licence_id, "FRAUD")
    later = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(signed_document=doc))
    assert (later.verdict, later.document_authentic) == (vpb.VERDICT_REVOKED, True)


def test_tampered_document_is_never_valid(stack):
    licence = issue(stack)
    doc = stack.verifier("market").ExportDocument(
        vpb.ExportDocumentRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
    )
    doc.content_json = doc.content_json.replace("500", "5000")
    result = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(signed_document=doc))
    assert (result.verdict, result.reason) == (vpb.VERDICT_CANNOT_CHECK, "SIGNATURE_INVALID")
    assert not result.document_authentic
    doc.content_json = "not json at all"
    garbage = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(signed_document=doc))
    assert garbage.verdict == vpb.VERDICT_CANNOT_CHECK


def test_qr_payload_verifies_until_it_expires(stack, clock: FixedClock):
    licence = issue(stack)
    qr = stack.verifier("market").IssueQrPayload(
        vpb.IssueQrPayloadRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id), ttl_seconds=60
        )
    )
    assert len(qr.payload) < 400
    ok = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(qr_payload=qr.payload))
    assert (ok.verdict, ok.licence_id) == (vpb.VERDICT_VALID, licence.licence_id)
    prefix, body, sig = qr.payload.split(".")
    flipped = "B" if sig[10] == "A" else "A"  # a byte in the middle of the signature
    forged = f"{prefix}.{body}.{sig[:10]}{flipped}{sig[11:]}"
    bad = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(qr_payload=forged))
    assert (bad.verdict, bad.reason) == (vpb.VERDICT_CANNOT_CHECK, "QR_SIGNATURE_INVALID")
    clock.advance(timedelta(seconds=61))
    late = stack.verifier("hall").VerifyDocument(vpb.VerifyDocumentRequest(qr_payload=qr.payload))
    assert (late.verdict, late.reason) == (vpb.VERDICT_CANNOT_CHECK, "QR_EXPIRED")


def test_verify_by_holder(stack):
    a = issue(stack, number="H-1")
    b = issue(stack, number="H-2")
    change_status(stack, "RevokeLicence", b.licence_id, "FRAUD")
    answer = stack.verifier("hall").VerifyByHolder(
        vpb.VerifyByHolderRequest(
            **WHY, holder_number=COMPANY, type_codes=[demo.BUSINESS_LICENCE.type_code]
        )
    )
    verdicts = {v.licence_id: v.verdict for v in answer.verifications}
    assert verdicts == {a.licence_id: vpb.VERDICT_VALID, b.licence_id: vpb.VERDICT_REVOKED}
    assert len({v.receipt_id for v in answer.verifications}) == 1
    valid = stack.verifier("hall").VerifyByHolder(
        vpb.VerifyByHolderRequest(**WHY, holder_number=COMPANY, valid_only=True)
    )
    assert [v.licence_id for v in valid.verifications] == [a.licence_id]
    nothing = stack.verifier("hall").VerifyByHolder(
        vpb.VerifyByHolderRequest(**WHY, holder_number=OTHER_COMPANY)
    )
    assert [v.verdict for v in nothing.verifications] == [vpb.VERDICT_NOT_FOUND]


def test_batch_answers_every_item_independently(stack):
    good = issue(stack)
    items = []
    for i in range(2500):
        if i % 10 == 3:
            ref = pb.LicenceRef(licence_id="garbage")
        elif i % 10 == 5:
            ref = pb.LicenceRef()
        else:
            ref = pb.LicenceRef(licence_id=good.licence_id)
        items.append(vpb.VerifyLicenceRequest(licence=ref, client_ref=str(i)))
    chunks = [vpb.VerifyBatchRequest(items=items[i : i + 1000]) for i in range(0, 2500, 1000)]
    responses = list(stack.verifier("hall").VerifyBatch(iter(chunks)))
    assert [len(r.results) for r in responses] == [1000, 1000, 500]
    answers = [a for r in responses for a in r.results]
    assert [a.client_ref for a in answers] == [str(i) for i in range(2500)]
    for i, a in enumerate(answers):
        expected = vpb.VERDICT_NOT_FOUND if i % 10 in (3, 5) else vpb.VERDICT_VALID
        assert a.verdict == expected, (i, a.reason)
    for r in responses:
        assert r.receipt_id and {a.receipt_id for a in r.results} == {r.receipt_id}
    assert answers[3].reason.startswith("INVALID_REFERENCE")
    assert answers[5].reason.startswith("INVALID_REFERENCE")


def test_materials_exemption(stack):
    issue(stack)
    check = stack.verifier("hall").CheckMaterials(
        vpb.CheckMaterialsRequest(**WHY, item_code="FZ-SC-0003", applicant_number=COMPANY)
    )
    covered = {m.material.name: m.covered for m in check.materials}
    assert covered == {
        "营业执照": True,
        "法定代表人身份证明": False,
        "经营场所使用证明": False,
        "食品安全管理制度文本": False,
    }
    licence_check = next(m for m in check.materials if m.covered)
    assert licence_check.verification.receipt_id
    nobody = stack.verifier("hall").CheckMaterials(
        vpb.CheckMaterialsRequest(**WHY, item_code="FZ-SC-0003", applicant_number=OTHER_COMPANY)
    )
    assert not any(m.covered for m in nobody.materials)
    with pytest.raises(grpc.RpcError) as caught:
        stack.verifier("hall").CheckMaterials(
            vpb.CheckMaterialsRequest(**WHY, item_code="NO-SUCH", applicant_number=COMPANY)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_department_without_the_handler_role_cannot_verify(stack):
    licence = issue(stack)
    with pytest.raises(grpc.RpcError) as caught:
        stack.verifier("portal").VerifyLicence(
            vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_issuer_keys_are_published(stack):
    issue(stack)
    keys = stack.verifier("hall").GetIssuerKeys(
        vpb.GetIssuerKeysRequest(issuer_codes=[demo.ALIASES["market"]])
    )
    assert keys.issuers[0].issuer_code == demo.ALIASES["market"]
    assert keys.issuers[0].keys[0].public_key_pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_compromised_key_distrusts_only_what_it_signed_from_then(stack, clock: FixedClock):
    before = issue(stack, number="C-1")
    clock.advance(timedelta(hours=1))
    exposed_at = clock.now()
    clock.advance(timedelta(hours=1))
    after = issue(stack, number="C-2")  # signed after the (later discovered) exposure
    assert before.signature.key_id == after.signature.key_id
    clock.advance(timedelta(hours=1))
    ts = Timestamp()
    ts.FromDatetime(exposed_at)
    dept = stack.store("data").MarkKeyCompromised(
        pb.MarkKeyCompromisedRequest(key_id=before.signature.key_id, compromised_at=ts)
    )
    bad = next(k for k in dept.signing_keys if k.key_id == before.signature.key_id)
    assert bad.HasField("compromised_at")
    assert dept.signing_keys[0].key_id != bad.key_id  # a new current key took over
    assert verify(stack, before.licence_id).verdict == vpb.VERDICT_VALID
    late = verify(stack, after.licence_id)
    assert (late.verdict, late.reason) == (vpb.VERDICT_CANNOT_CHECK, "ISSUER_KEY_COMPROMISED")
    fresh = issue(stack, number="C-3")
    assert fresh.signature.key_id == dept.signing_keys[0].key_id
    assert verify(stack, fresh.licence_id).verdict == vpb.VERDICT_VALID
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").MarkKeyCompromised(pb.MarkKeyCompromisedRequest(key_id=bad.key_id))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED  # administrators only


@pytest.mark.parametrize("method", ["VerifyLicence", "VerifyBatch"])
def test_regression_verify_as_of_in_the_last_hours_of_9999(stack: Stack, method: str):
    """Found by the fuzzer (fixed since): as_of from 9999-12-31T16:00:00Z to 23:59:59Z passes the
    1970..9999 check but china_date() overflows converting it to UTC+8 (OverflowError ->
    INTERNAL).
    """
    licence = issue(stack, "V-9999")
    request = vpb.VerifyLicenceRequest(
        licence=pb.LicenceRef(licence_id=licence.licence_id),
        as_of=Timestamp(seconds=253402300799),  # 9999-12-31T23:59:59Z, the documented maximum
    )
    if method == "VerifyBatch":
        request = vpb.VerifyBatchRequest(items=[request])
    outcome = call(stack.channel("hall"), f"/yihao.v1.Verifier/{method}", [request])
    assert_answered(outcome, grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)


def test_concurrent_verifications_combined_each_get_their_own_receipt(stack):
    """VerifyLicence calls arriving together are answered in shared rounds (one read, one
    durable write); each caller still gets its own answer under its own signed receipt naming
    only its department and its question, and a malformed question is that caller's error."""
    import threading
    import time

    combiner = stack.app.verifier._combiner
    run, sizes = combiner._run, []

    def slow_first_round(items):  # hold the first round so the others queue behind it
        sizes.append(len(items))
        if len(sizes) == 1:
            time.sleep(0.3)
        return run(items)

    combiner._run = slow_first_round
    valid = issue(stack, "C-1")
    other = issue(stack, "C-2", OTHER_COMPANY)
    change_status(stack, "RevokeLicence", other.licence_id, "FRAUD")
    bad_check = "H" if valid.licence_id.endswith("G") else "G"  # a wrong check character
    asks = [
        ("hall", valid.licence_id, COMPANY, "valid", "match"),
        ("housing", valid.licence_id, OTHER_COMPANY, "valid", "mismatch"),
        ("hall", other.licence_id, OTHER_COMPANY, "revoked", "match"),
        ("housing", valid.licence_id[:-1] + bad_check, "", "malformed", ""),
        ("market", other.licence_id, "", "revoked", "not_presented"),
    ] * 2
    answers: dict[int, object] = {}

    def ask(i: int) -> None:
        alias, licence_id, holder, _, _ = asks[i]
        request = vpb.VerifyLicenceRequest(
            **WHY, licence=pb.LicenceRef(licence_id=licence_id), presented_holder_number=holder
        )
        try:
            answers[i] = stack.verifier(alias).VerifyLicence(request)
        except grpc.RpcError as exc:
            answers[i] = exc.code()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    threads[0].start()
    time.sleep(0.1)  # the first call is in its round; the rest arrive during it
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert max(sizes) > 1  # some calls shared a round
    receipt_ids = set()
    for i, (alias, licence_id, _, verdict, match) in enumerate(asks):
        answer = answers[i]
        if verdict == "malformed":
            assert answer == grpc.StatusCode.INVALID_ARGUMENT
            continue
        assert vpb.Verdict.Name(answer.verdict) == f"VERDICT_{verdict.upper()}"
        assert vpb.HolderMatch.Name(answer.holder_number_match) == f"HOLDER_MATCH_{match.upper()}"
        check = stack.verifier("supervision").VerifyReceipt(
            vpb.GetReceiptRequest(receipt_id=answer.receipt_id)
        )
        assert check.authentic, check.reason
        body = json.loads(check.receipt.body_json)
        assert body["requester"] == demo.ALIASES[alias]
        assert [a["verdict"] for a in body["answers"]] == [verdict]
        assert body["answers"][0]["licence_id"] == licence_id
        receipt_ids.add(answer.receipt_id)
    assert len(receipt_ids) == 8  # one receipt per answered call
