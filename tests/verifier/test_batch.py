"""VerifyBatch's fast path through a real server, on SQLite and PostgreSQL: chunks and their
receipts, the memo of checked versions (never a cache of status), access records, streaming."""

from __future__ import annotations

import json
import queue

import grpc
import pytest
from sqlalchemy import func, select, update

from clients import YihaoClient
from services.common.access_log import access_records
from services.common.licence_ids import parse_licence_identifier
from services.common.signing import canonical_json
from services.licence_store import demo
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence.tables import licence_versions
from services.verifier.messages import MAX_BATCH_ITEMS
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"
COMPANY_NAME = "福州示例科技有限公司"
PERSON = "11010519491231002X"
MISSING = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"


def issue(stack: Stack, number: str) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"batch-test-{number}",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=number,
            holder=common.Holder(number=COMPANY, name=COMPANY_NAME),
            fields=BUSINESS_FIELDS,
        )
    )


def issue_person(stack: Stack, number: str) -> pb.Licence:
    return stack.store("police").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"batch-test-{number}",
            type_code=demo.RESIDENCE_PERMIT.type_code,
            licence_number=number,
            holder=common.Holder(number=PERSON, name="张三"),
            fields={
                "sex": "男",
                "domicile": "北京市西城区",  # sensitive: sealed at rest
                "residence_address": "福州市台江区",
                "issuing_office": "台江分局",
            },
        )
    )


def item(licence_id: str, **fields: str) -> vpb.VerifyLicenceRequest:
    return vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id), **fields)


def batch(stack: Stack, *chunks: list[vpb.VerifyLicenceRequest]) -> list[vpb.VerifyBatchResponse]:
    requests = iter([vpb.VerifyBatchRequest(items=c) for c in chunks])
    return list(stack.verifier("hall").VerifyBatch(requests, timeout=30))


def outcomes(responses: list[vpb.VerifyBatchResponse]) -> list[tuple[int, str]]:
    return [(r.verdict, r.reason) for response in responses for r in response.results]


def test_a_chunk_is_answered_in_order_under_one_receipt_in_canonical_json(stack):
    business = issue(stack, "B-1")
    permit = issue_person(stack, "P-1")
    by_number = pb.TypeAndNumber(type_code=demo.BUSINESS_LICENCE.type_code, licence_number="B-1")
    items = [
        item(business.licence_id, presented_holder_number=COMPANY, client_ref='a "quote" \\ 1'),
        item(
            business.licence_id, presented_holder_name="福州示例科技有限公司 ", client_ref="名\t2"
        ),
        item(
            permit.licence_id,
            presented_holder_number=PERSON,
            presented_holder_name="张三",
            **WHY,
        ),
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(type_and_number=by_number)),
        item(MISSING, client_ref="missing"),
        item("garbage", client_ref="malformed"),
        item(business.licence_id, presented_holder_number="not a number", client_ref="bad"),
    ]
    (response,) = batch(stack, items)
    assert [(r.client_ref, r.receipt_id) for r in response.results] == [
        (i.client_ref, response.receipt_id) for i in items
    ]
    assert outcomes([response]) == [
        (vpb.VERDICT_VALID, "ALL_CHECKS_PASSED"),
        (vpb.VERDICT_VALID, "ALL_CHECKS_PASSED"),
        (vpb.VERDICT_VALID, "ALL_CHECKS_PASSED"),
        (vpb.VERDICT_VALID, "ALL_CHECKS_PASSED"),
        (vpb.VERDICT_NOT_FOUND, "NO_SUCH_LICENCE"),
        *[(vpb.VERDICT_NOT_FOUND, r.reason) for r in response.results[5:]],
    ]
    assert all(r.reason.startswith("INVALID_REFERENCE") for r in response.results[5:])
    matches = [(r.holder_number_match, r.holder_name_match) for r in response.results[:4]]
    assert matches == [
        (vpb.HOLDER_MATCH_MATCH, vpb.HOLDER_MATCH_NOT_PRESENTED),
        (vpb.HOLDER_MATCH_NOT_PRESENTED, vpb.HOLDER_MATCH_MATCH),
        (vpb.HOLDER_MATCH_MATCH, vpb.HOLDER_MATCH_MATCH),
        (vpb.HOLDER_MATCH_NOT_PRESENTED, vpb.HOLDER_MATCH_NOT_PRESENTED),
    ]
    first = response.results[0]
    assert (first.licence_id, first.content_sha256) == (
        business.licence_id,
        business.content_sha256,
    )
    assert first.signature_verified and first.type_name and first.issuer_name
    assert "validity_dates" in first.policy.checks

    check = stack.verifier("supervision").VerifyReceipt(
        vpb.GetReceiptRequest(receipt_id=response.receipt_id)
    )
    assert check.authentic, check.reason
    body = check.receipt.body_json.encode()
    assert canonical_json(json.loads(body)) == body  # the bytes anyone re-serialising gets
    answers = json.loads(body)["answers"]
    assert [a["asked"].get("client_ref", "") for a in answers] == [i.client_ref for i in items]
    assert answers[3]["asked"] == {
        "type_code": demo.BUSINESS_LICENCE.type_code,
        "licence_number": "B-1",
    }
    assert [a["verdict"] for a in answers] == ["valid"] * 4 + ["not_found"] * 3
    assert PERSON not in body.decode() and "张三" not in body.decode()
    assert answers[2]["asked"]["presented_holder_number"] == "110105********002X"


def test_a_row_edited_in_the_database_is_checked_again_and_status_is_read_every_time(stack):
    licence = issue(stack, "E-1")
    chunk = [item(licence.licence_id, client_ref=str(i)) for i in range(3)]
    assert set(outcomes(batch(stack, chunk))) == {(vpb.VERDICT_VALID, "ALL_CHECKS_PASSED")}
    with stack.app.db.transaction() as conn:
        conn.execute(update(licence_versions).values(holder_name="篡改后的名称"))
    edited = batch(stack, chunk)
    assert set(outcomes(edited)) == {(vpb.VERDICT_CANNOT_CHECK, "CONTENT_ALTERED")}
    assert not any(r.signature_verified for r in edited[0].results)
    with stack.app.db.transaction() as conn:
        conn.execute(update(licence_versions).values(holder_name=COMPANY_NAME))
    assert set(outcomes(batch(stack, chunk))) == {(vpb.VERDICT_VALID, "ALL_CHECKS_PASSED")}
    stack.store("market").RevokeLicence(
        pb.StatusChangeRequest(licence=chunk[0].licence, reason_code="FRAUD")
    )
    assert set(outcomes(batch(stack, chunk))) == {(vpb.VERDICT_REVOKED, "STATUS_REVOKED")}
    answer = stack.verifier("hall").VerifyLicence(chunk[0])
    assert (answer.verdict, answer.status_reason_code) == (vpb.VERDICT_REVOKED, "FRAUD")


def test_every_verified_item_leaves_an_access_record(stack):
    licence = issue(stack, "A-1")

    def count() -> int:
        with stack.app.db.read() as conn:
            return conn.execute(select(func.count()).select_from(access_records)).scalar_one()

    before = count()
    found = [item(licence.licence_id, purpose="对账", case_number=f"C-{i}") for i in range(5)]
    batch(stack, [*found, item(MISSING), item("garbage")])
    assert count() == before + 5
    with stack.app.db.read() as conn:
        rows = conn.execute(
            select(access_records).order_by(access_records.c.id.desc()).limit(5)
        ).all()
    assert {(r.channel, r.purpose) for r in rows} == {("verification", "对账")}
    assert sorted(r.case_number for r in rows) == [f"C-{i}" for i in range(5)]


def test_a_client_that_waits_for_each_answer_before_sending_more_gets_it(stack):
    licence = issue(stack, "W-1")
    answered: queue.Queue[None] = queue.Queue()

    def chunks():
        for i in range(3):
            yield vpb.VerifyBatchRequest(items=[item(licence.licence_id, client_ref=str(i))])
            answered.get(timeout=20)  # the next chunk only once this one was answered

    refs = []
    for response in stack.verifier("hall").VerifyBatch(chunks(), timeout=30):
        refs.append(response.results[0].client_ref)
        answered.put(None)
    assert refs == ["0", "1", "2"]


def test_a_message_with_too_many_items_is_refused(stack):
    licence = issue(stack, "T-1")
    with pytest.raises(grpc.RpcError) as caught:
        batch(stack, [item(licence.licence_id)] * (MAX_BATCH_ITEMS + 1))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_the_client_library_sends_chunks_and_yields_verifications(stack):
    licence = issue(stack, "L-1")
    requests = [item(licence.licence_id, client_ref=str(i)) for i in range(5)]
    with YihaoClient(stack.channel("hall")) as client:
        answers = list(client.verify_batch(requests, chunk=2))
    assert [a.client_ref for a in answers] == [str(i) for i in range(5)]
    assert {a.verdict for a in answers} == {vpb.VERDICT_VALID}
    assert len({a.receipt_id for a in answers}) == 3  # one receipt per chunk of two


def test_the_readers_batch_read_opens_to_what_the_repository_reads(stack):
    reader, codec = stack.app.read.reader, stack.app.read.codec
    licences = (issue(stack, "R-1"), issue_person(stack, "R-2"))  # the second has sealed fields
    serials = [parse_licence_identifier(lic.licence_id).serial for lic in licences]
    current = reader.read_current(serials).licences
    for serial in serials:
        with stack.app.db.read() as conn:
            expected = repo.get_by_serial(conn, serial, codec)
        assert expected is not None
        assert reader.open(current[serial]) == expected
        assert current[serial].key_id == expected.signed.key_id
        assert current[serial].status is expected.licence.status


def test_a_row_read_again_unchanged_keeps_its_check_and_an_edit_is_still_caught(stack):
    # Rows are read again at least every second: an unchanged version keeps its memo entry
    # (not checked again); an edited one is checked again.
    reader, fast = stack.app.read.reader, stack.app.verifier.fast
    licence = issue(stack, "M-1")
    serial = parse_licence_identifier(licence.licence_id).serial

    def read_afresh() -> dict:
        if reader.current_rows is not None:
            reader.current_rows._rows.clear()  # as when the kept row is past its age
        return reader.read_current([serial]).licences

    first = read_afresh()
    checked = fast._vet(first)[serial]
    again = read_afresh()
    assert again[serial].fingerprint is not first[serial].fingerprint
    assert fast._vet(again)[serial] is checked
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(licence_versions)
            .where(licence_versions.c.serial == serial)
            .values(holder_name="篡改后的名称")
        )
    edited = fast._vet(read_afresh())[serial]
    assert edited is not checked and edited.integrity is not checked.integrity
    assert fast.memo.get(serial) is edited


def test_a_versions_fingerprint_changes_with_its_stored_content_only(stack):
    reader = stack.app.read.reader
    licence = issue(stack, "F-1")
    serial = parse_licence_identifier(licence.licence_id).serial
    before = reader.read_current([serial]).licences[serial]
    again = reader.read_current([serial]).licences[serial]
    assert again.fingerprint == before.fingerprint
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(licence_versions)
            .where(licence_versions.c.serial == serial)
            .values(holder_name="someone else")
        )
    edited = reader.read_current([serial]).licences[serial]
    assert edited.fingerprint != before.fingerprint
