"""Who at a department acted: the ``yihao-staff`` metadata recorded, beside the department, in
verification receipts (inside what is signed), access records and licence events, and shown
where they are read back. Through a real gRPC server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest
from alembic import command
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import inspect, update

from clients import InvalidArgument, YihaoClient
from services.audit import verify
from services.common.access_log import access_records
from services.common.database import Database
from services.common.migrate import alembic_config, upgrade
from services.licence_store import demo
from services.licence_store.persistence.tables import licence_events
from services.verifier.persistence.tables import receipts
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack, settings_for, start_stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"
HANDLER = "zhang.san@hall-3"
OPERATOR = "op_7"


def staff(name: str) -> list[tuple[str, str]]:
    return [("yihao-staff", name)]


def issue(stack: Stack, number: str, *, by: str | None = OPERATOR, **extra: str) -> pb.Licence:
    request = pb.IssueLicenceRequest(
        idempotency_key=f"staff-{number}",
        type_code=demo.BUSINESS_LICENCE.type_code,
        licence_number=number,
        holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
        fields=BUSINESS_FIELDS,
        **extra,
    )
    return stack.store("market").IssueLicence(request, metadata=staff(by) if by else None)


def ref(licence: pb.Licence) -> pb.LicenceRef:
    return pb.LicenceRef(licence_id=licence.licence_id)


def audit_ok(stack: Stack) -> list[str]:
    with stack.app.db.read() as conn:
        report = verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)
    return [str(p) for p in report.problems]


def test_a_receipt_names_the_staff_inside_its_signed_body(stack: Stack) -> None:
    licence = issue(stack, "S-1")
    hall = YihaoClient(stack.channel("hall"), staff=HANDLER)
    answer = hall.verify_licence(licence=ref(licence), presented_holder_number=COMPANY)
    plain = YihaoClient(stack.channel("hall")).verify_licence(licence=ref(licence))
    supervision = stack.verifier("supervision")
    check = supervision.VerifyReceipt(vpb.GetReceiptRequest(receipt_id=answer.receipt_id))
    assert (check.authentic, check.receipt.staff) == (True, HANDLER), check.reason
    assert json.loads(check.receipt.body_json)["staff"] == HANDLER
    assert check.receipt.requester_code == demo.ALIASES["hall"]
    got = stack.verifier("hall").GetReceipt(vpb.GetReceiptRequest(receipt_id=answer.receipt_id))
    assert got.staff == HANDLER
    unnamed = supervision.VerifyReceipt(vpb.GetReceiptRequest(receipt_id=plain.receipt_id))
    assert (unnamed.authentic, unnamed.receipt.staff) == (True, "")
    assert "staff" not in json.loads(unnamed.receipt.body_json)
    # The staff column alone edited: it no longer agrees with the signed body.
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(receipts)
            .where(receipts.c.receipt_id == answer.receipt_id)
            .values(staff="someone.else")
        )
    moved = supervision.VerifyReceipt(vpb.GetReceiptRequest(receipt_id=answer.receipt_id))
    assert (moved.authentic, moved.reason) == (False, "RECEIPT_FIELDS_NOT_SIGNED")
    # Both edited together: the signature no longer covers the body.
    with stack.app.db.transaction() as conn:
        body = json.loads(moved.receipt.body_json)
        body["staff"] = "someone.else"
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        where = receipts.c.receipt_id == answer.receipt_id
        conn.execute(update(receipts).where(where).values(body=text))
    forged = supervision.VerifyReceipt(vpb.GetReceiptRequest(receipt_id=answer.receipt_id))
    assert (forged.authentic, forged.reason) == (False, "SIGNATURE_INVALID")


def test_access_records_name_the_staff_and_are_logged_with_it(stack: Stack, clock) -> None:
    licence = issue(stack, "S-2")
    hall = stack.verifier("hall")
    hall.VerifyLicence(vpb.VerifyLicenceRequest(licence=ref(licence)), metadata=staff(HANDLER))
    clock.advance(timedelta(seconds=1))
    hall.VerifyLicence(vpb.VerifyLicenceRequest(licence=ref(licence)))
    clock.advance(timedelta(seconds=1))
    batch = [vpb.VerifyBatchRequest(items=[vpb.VerifyLicenceRequest(licence=ref(licence))])]
    assert len(list(hall.VerifyBatch(iter(batch), timeout=30, metadata=staff("batch.9")))) == 1
    clock.advance(timedelta(seconds=1))
    stack.assistance("housing").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key="staff-assist-1",
            item_code="XZXZ-SC-001",
            holder_number=COMPANY,
            purpose="住房保障审核",
            case_number="ZJ-2026-0001",
        ),
        metadata=staff("li.si"),
    )
    portal = YihaoClient(stack.channel("portal"))
    records = portal.list_access_records(holder_number=COMPANY).records  # newest first
    assert [(r.channel, r.staff) for r in records] == [
        ("assistance", "li.si"),
        ("verification", "batch.9"),
        ("verification", ""),
        ("verification", HANDLER),
    ]
    assert audit_ok(stack) == []
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(access_records).where(access_records.c.staff == HANDLER).values(staff="x")
        )
    problems = audit_ok(stack)
    assert len(problems) == 1 and "access records deleted or edited" in problems[0]


def test_every_lifecycle_act_names_the_staff_on_its_event(stack: Stack) -> None:
    store = YihaoClient(stack.channel("market"), staff=OPERATOR)
    licence = issue(stack, "S-3", valid_until="2030-12-31")
    store.change_licence(licence=ref(licence), holder_name="福州新名称有限公司")
    store.renew_licence(licence=ref(licence), valid_until="2035-12-31")
    acts = [
        (store.suspend_licence, "INVESTIGATION"),
        (store.reinstate_licence, "INVESTIGATION_CLOSED"),
        (store.as_staff("op.8").revoke_licence, "VIOLATION"),
    ]
    for act, code in acts:
        act(licence=ref(licence), reason_code=code)
    other = issue(stack, "S-4", by=None)
    store.as_staff(None).cancel_licence(licence=ref(other), reason_code="OTHER", reason_text="注销")
    record = pb.ImportRecord(
        line=1,
        licence=pb.IssueLicenceRequest(
            idempotency_key="staff-import-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="S-5",
            holder=common.Holder(number=COMPANY, name="导入企业"),
            fields=BUSINESS_FIELDS,
        ),
    )
    [result] = store.import_licences([record])
    assert result.outcome == pb.IMPORT_OUTCOME_ACCEPTED
    events = list(store.watch_events(after_cursor=0))
    seen = [(pb.EventKind.Name(e.kind), e.staff) for e in events]
    assert seen == [
        ("EVENT_KIND_ISSUED", OPERATOR),
        ("EVENT_KIND_CHANGED", OPERATOR),
        ("EVENT_KIND_RENEWED", OPERATOR),
        ("EVENT_KIND_SUSPENDED", OPERATOR),
        ("EVENT_KIND_REINSTATED", OPERATOR),
        ("EVENT_KIND_REVOKED", "op.8"),
        ("EVENT_KIND_ISSUED", ""),
        ("EVENT_KIND_CANCELLED", ""),
        ("EVENT_KIND_ISSUED", OPERATOR),
    ]
    assert all(e.actor_code == demo.ALIASES["market"] for e in events)
    history = store.get_licence_history(licence=ref(licence))
    assert [e.staff for e in history.events] == [OPERATOR] * 5 + ["op.8"]
    assert audit_ok(stack) == []
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(licence_events).where(licence_events.c.staff == "op.8").values(staff="x")
        )
    problems = audit_ok(stack)
    assert len(problems) == 1 and "record edited" in problems[0]


def test_a_queued_requests_answer_names_the_requesters_staff(stack: Stack) -> None:
    graduate = "320106198707105231"
    pending = stack.assistance("hrss").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key="staff-manual-1",
            item_code="XZXZ-JY-001",
            holder_number=graduate,
            purpose="职业资格审查",
            legal_basis="《中华人民共和国户口登记条例》第十九条",
            case_number="GA-2026-0601-001",
        ),
        metadata=staff("chen.qi"),
    )
    assert pending.requester_staff == "chen.qi"
    portal = YihaoClient(stack.channel("portal"))
    assert list(portal.list_access_records(holder_number=graduate).records) == []  # not read yet
    data = {"degree": "工学学士", "major": "软件工程", "institution": "福州大学"}
    answered = stack.assistance("education").Answer(
        apb.AnswerRequest(
            request_id=pending.request_id, data=data | {"graduated_on": "2009-07-01"}
        ),
        metadata=staff("provider.1"),
    )
    assert answered.requester_staff == "chen.qi"
    [record] = portal.list_access_records(holder_number=graduate).records
    assert (record.department_code, record.staff) == (demo.ALIASES["hrss"], "chen.qi")
    assert audit_ok(stack) == []


def _violation(err: grpc.RpcError) -> tuple[str, str]:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field, bad.field_violations[0].description
    raise AssertionError("no field violation")


@pytest.mark.parametrize("bad", ["", "two words", "x" * 65, "a/b"])
def test_a_malformed_staff_header_is_refused_before_anything_is_done(stack: Stack, bad) -> None:
    licence = issue(stack, "S-6")
    request = vpb.VerifyLicenceRequest(licence=ref(licence))
    with pytest.raises(grpc.RpcError) as caught:
        stack.verifier("hall").VerifyLicence(request, metadata=staff(bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    field, rule = _violation(caught.value)
    assert field == "metadata yihao-staff"
    assert "1 to 64 characters" in rule
    with pytest.raises(grpc.RpcError) as streamed:
        list(stack.store("market").WatchEvents(pb.WatchEventsRequest(), metadata=staff(bad)))
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    twice = [("yihao-staff", "a"), ("yihao-staff", "b")]
    with pytest.raises(grpc.RpcError) as repeated:
        stack.verifier("hall").VerifyLicence(request, metadata=twice)
    assert repeated.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with stack.app.db.read() as conn:
        assert conn.execute(receipts.select()).first() is None  # nothing was verified


def test_the_client_refuses_a_malformed_staff_id_before_calling(stack: Stack) -> None:
    with pytest.raises(InvalidArgument) as caught:
        YihaoClient(stack.channel("hall"), staff="张三")
    assert caught.value.violations[0].field == "metadata yihao-staff"
    with pytest.raises(InvalidArgument):
        YihaoClient(stack.channel("hall")).as_staff("a b")


def _downgrade(db: Database, revision: str) -> None:
    """The schema back at ``revision`` (as :func:`upgrade` runs it, the other way)."""
    cfg = alembic_config(db.url)
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        with conn.begin():
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)


def test_a_store_made_before_the_staff_columns_upgrades_and_still_verifies(
    database_url: str, pki, tmp_path, clock
) -> None:
    stack = start_stack(settings_for(database_url, tmp_path, pki), pki, clock=clock)
    try:
        licence = issue(stack, "S-7", by=None)
        answer = stack.verifier("hall").VerifyLicence(
            vpb.VerifyLicenceRequest(licence=ref(licence))
        )
    finally:
        stack.stop()
    db = Database(database_url)
    _downgrade(db, "0015")  # as a store made before staff were recorded
    with db.read() as conn:
        assert "staff" not in {c["name"] for c in inspect(conn).get_columns("licence_events")}
    upgrade(db)
    db.dispose()
    stack = start_stack(settings_for(database_url, tmp_path, pki), pki, clock=clock)
    try:
        assert audit_ok(stack) == []
        request = vpb.GetReceiptRequest(receipt_id=answer.receipt_id)
        check = stack.verifier("supervision").VerifyReceipt(request)
        assert (check.authentic, check.receipt.staff) == (True, "")
        stack.store("market").RevokeLicence(
            pb.StatusChangeRequest(licence=ref(licence), reason_code="VIOLATION"),
            metadata=staff(OPERATOR),
        )
        events = list(stack.store("market").WatchEvents(pb.WatchEventsRequest()))
        assert [e.staff for e in events] == ["", OPERATOR]
        assert audit_ok(stack) == []
    finally:
        stack.stop()
