"""Assistance across regions (real regions: conftest): an item published by a provider in 35
is in 31's catalogue marked with its region; a request by 31's service hall is forwarded,
recorded in 35 under the region and the department, answered or refused there with 35's
signed decision, urged from 31, and supervised on both sides; each side keeps its own records
(access records, log entries)."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from clients.errors import from_grpc_error
from services.bootstrap import audit_verify
from testsupport.regions import Region, holder_code, issue
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as apb_grpc
from yihao.v1 import verifier_pb2 as pb
from yihao.v1 import verifier_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres

ADMIN = "11350100518190937A"  # the demo data bureau: administrator and supervisor everywhere
PORTAL = "113501004323194882"
HOUSING = "11350100082462814Q"  # a demo requester in every region, not granted these items
AUTOMATIC, MANUAL = "XZXZ-FJ-901", "XZXZ-FJ-902"


def _stub(region: Region, dept: str) -> apb_grpc.AssistanceStub:
    return apb_grpc.AssistanceStub(region.channel(dept))


@pytest.fixture(scope="module")
def items(regions):
    a, b, _ = regions
    common = dict(
        provider_code=a.market,
        requester_codes=[b.hall],
        method="系统接口",
        responsible_office="福建省市场监督管理局登记注册处",
        time_limit_working_days=1,
    )
    admin = _stub(a, ADMIN)
    for item in (
        apb.AssistanceItem(
            code=AUTOMATIC,
            name="营业执照信息核查（福建）",
            licence_type_code=a.licence_type,
            fields=["licence_number", "address", "status"],
            procedure=apb.PROCEDURE_AUTOMATIC,
            refusal_grounds=["NOT_HELD"],
            **common,
        ),
        apb.AssistanceItem(
            code=MANUAL,
            name="经营异常名录核查（福建）",
            attestation="经营异常名录 (abnormal operations list)",
            fields=["listed"],
            procedure=apb.PROCEDURE_MANUAL,
            refusal_grounds=["NOT_HELD", "COMMERCIAL_SECRET"],
            **common,
        ),
    ):
        admin.RegisterItem(apb.RegisterItemRequest(item=item), timeout=10)
    return a, b


def _submit(b: Region, code: str, holder: str, case: str) -> apb.AssistanceRequest:
    return _stub(b, b.hall).SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key=secrets.token_hex(8),
            item_code=code,
            holder_number=holder,
            purpose="开办企业",
            case_number=case,
        ),
        timeout=10,
    )


def _records(region: Region, holder: str, channel: str) -> list[tuple[str, str]]:
    reply = _stub(region, PORTAL).ListAccessRecords(
        apb.ListAccessRecordsRequest(holder_number=holder), timeout=10
    )
    return [(r.department_code, r.case_number) for r in reply.records if r.channel == channel]


def _in_log(region: Region, dept: str, ref: str) -> bool:
    stub = pb_grpc.VerifierStub(region.channel(dept))
    stub.GetTreeHead(pb.GetTreeHeadRequest(fresh=True), timeout=10)
    proof = stub.GetInclusionProof(pb.GetInclusionProofRequest(ref=ref), timeout=10)
    return proof.head.tree_size > proof.leaf_index


def test_a_peers_item_is_listed_with_its_region_and_answered_across(items):
    a, b = items
    listed = _stub(b, b.hall).ListItems(apb.ListItemsRequest(requester_code=b.hall), timeout=10)
    theirs = {i.code: i.region for i in listed.items if i.region}
    assert theirs == {AUTOMATIC: "35", MANUAL: "35"}
    assert all(i.region == "" for i in listed.items if i.code.startswith("XZXZ-SC"))

    holder = holder_code(a, 301)
    issue(a, "A-S001", holder)
    got = _submit(b, AUTOMATIC, holder, "SH-A1")
    assert (got.status, got.provider_region) == (apb.REQUEST_STATUS_ANSWERED, "35")
    assert got.answer["result"] == "FOUND" and got.answer["licence_number"] == "A-S001"
    assert got.decision_signature and got.decision_key_id.startswith("yihao-receipt")
    # 35 recorded it under region 31 and its department, and the holder's access there
    there = _stub(a, a.market).GetRequest(apb.GetRequestRequest(request_id=got.request_id))
    assert (there.requester_code, there.requester_region) == (b.hall, "31")
    assert _records(a, holder, "federation:31") == [(b.hall, "SH-A1")]
    # 31 keeps its own: the request, the access record, a log entry of the decision
    here = _stub(b, b.hall).GetRequest(apb.GetRequestRequest(request_id=got.request_id))
    assert (here.status, here.provider_region) == (apb.REQUEST_STATUS_ANSWERED, "35")
    mine = _stub(b, b.hall).ListMyRequests(apb.ListRequestsRequest(), timeout=10).requests
    listed = {r.request_id: (r.status, r.provider_region) for r in mine}
    assert listed[got.request_id] == (apb.REQUEST_STATUS_ANSWERED, "35")
    assert _records(b, holder, "forwarded:35") == [(b.hall, "SH-A1")]
    assert _in_log(b, b.hall, got.request_id) and _in_log(a, a.market, got.request_id)
    # a department the item does not grant is refused by 35, named as its answer
    with pytest.raises(grpc.RpcError) as refused:
        _stub(b, HOUSING).SubmitRequest(
            apb.SubmitRequestRequest(
                idempotency_key="k1", item_code=AUTOMATIC, holder_number=holder, purpose="开办企业"
            ),
            timeout=10,
        )
    assert "region 35" in (refused.value.details() or "")


def _backdate(url: str, table: str, request_id: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"UPDATE {table} SET deadline = :d WHERE request_id = :r"),
                {"d": datetime.now(UTC) - timedelta(days=3), "r": request_id},
            )
    finally:
        engine.dispose()


def test_a_manual_request_is_urged_supervised_and_refused_across(items):
    a, b = items
    holder = holder_code(a, 302)
    got = _submit(b, MANUAL, holder, "SH-A2")
    assert (got.status, got.provider_region) == (apb.REQUEST_STATUS_PENDING, "35")
    urged = _stub(b, b.hall).Urge(apb.UrgeRequest(request_id=got.request_id, note="请尽快"))
    assert [(u.by_code, u.note) for u in urged.urgings] == [(b.hall, "请尽快")]
    pending = _stub(a, a.market).ListPending(apb.ListRequestsRequest(), timeout=10).requests
    (queued,) = [r for r in pending if r.request_id == got.request_id]
    assert (queued.requester_region, len(queued.urgings)) == ("31", 1)
    # its deadline passes: supervision lists it overdue on both sides
    _backdate(a.database_url, "assistance_requests", got.request_id)
    _backdate(b.settings().database_url, "assistance_forwarded", got.request_id)
    for region in (a, b):
        report = _stub(region, ADMIN).Supervise(apb.SuperviseRequest(), timeout=10)
        assert got.request_id in {r.request_id for r in report.overdue}, region.code
    # 35 refuses on a listed ground; 31 takes the signed refusal into its record
    _stub(a, a.market).Refuse(
        apb.RefuseRequest(request_id=got.request_id, ground="NOT_HELD", explanation="无记录"),
        timeout=10,
    )
    here = _stub(b, b.hall).GetRequest(apb.GetRequestRequest(request_id=got.request_id))
    assert (here.status, here.refusal_ground) == (apb.REQUEST_STATUS_REFUSED, "NOT_HELD")
    report = _stub(b, ADMIN).Supervise(apb.SuperviseRequest(), timeout=10)
    assert got.request_id not in {r.request_id for r in report.overdue}
    assert _in_log(b, b.hall, got.request_id)
    # each region's log still recomputes from its records, the cross-region ones included
    for region in (a, b):
        assert [str(p) for p in audit_verify(region.settings()).problems] == [], region.code
    # only the department that asked, from its region, sees it there
    with pytest.raises(grpc.RpcError) as hidden:
        _stub(b, b.market).GetRequest(apb.GetRequestRequest(request_id=got.request_id))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_supervisor_of_the_requesting_region_urges_a_request_forwarded_from_it(items):
    a, b = items
    holder = holder_code(a, 303)
    got = _submit(b, MANUAL, holder, "SH-A3")
    # a requester of 31 that neither asked it nor supervises cannot urge it
    with pytest.raises(grpc.RpcError) as hidden:
        _stub(b, HOUSING).Urge(apb.UrgeRequest(request_id=got.request_id, note="x"))
    assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    # 31's supervisor can: 35 (whose policy for 31 allows supervisors) records it under it
    urged = _stub(b, ADMIN).Urge(apb.UrgeRequest(request_id=got.request_id, note="督办"))
    assert [(u.by_code, u.note) for u in urged.urgings] == [(ADMIN, "督办")]
    assert (urged.requester_code, urged.provider_region) == (b.hall, "35")
    there = _stub(a, a.market).GetRequest(apb.GetRequestRequest(request_id=got.request_id))
    assert [(u.by_code, u.note) for u in there.urgings] == [(ADMIN, "督办")]
    assert there.requester_region == "31"
    # once decided there, the requesting department's record takes the signed decision
    _stub(a, a.market).Refuse(
        apb.RefuseRequest(request_id=got.request_id, ground="NOT_HELD", explanation="无记录"),
        timeout=10,
    )
    with pytest.raises(grpc.RpcError) as late:
        _stub(b, ADMIN).Urge(apb.UrgeRequest(request_id=got.request_id, note="督办"))
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    here = _stub(b, b.hall).GetRequest(apb.GetRequestRequest(request_id=got.request_id))
    assert here.status == apb.REQUEST_STATUS_REFUSED


def test_a_decision_reaches_the_requesting_region_though_nobody_there_reads_it(items):
    """31 pulls the decisions of its pending forwarded requests every
    YIHAO_FEDERATION_PULL_SECONDS (2 s here): the signed refusal enters 31's log and record
    without its department reading or listing the request."""
    a, b = items
    holder = holder_code(a, 304)
    got = _submit(b, MANUAL, holder, "SH-A4")
    _stub(a, a.market).Refuse(
        apb.RefuseRequest(request_id=got.request_id, ground="NOT_HELD", explanation="无记录"),
        timeout=10,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if _in_log(b, b.hall, got.request_id):  # reads the log only, pulls nothing
                break
        except grpc.RpcError as exc:
            # Not pulled yet, or pulled between the fresh head and the proof asked for:
            # logged, but after that head (the next round's head covers it).
            assert from_grpc_error(exc).reason in ("LOG_ENTRY_NOT_FOUND", "NOT_YET_IN_SIGNED_HEAD")
        assert time.monotonic() < deadline, "the decision was not pulled"
        time.sleep(0.5)
    row = _forwarded_row(b, got.request_id)
    assert (row.status, row.decision_sha256 != "") == ("refused", True)
    mine = _stub(b, b.hall).ListMyRequests(apb.ListRequestsRequest(), timeout=10).requests
    (listed,) = [r for r in mine if r.request_id == got.request_id]
    assert (listed.status, listed.provider_region) == (apb.REQUEST_STATUS_REFUSED, "35")


def _forwarded_row(region: Region, request_id: str) -> Any:
    engine = sa.create_engine(region.settings().database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT status, decision_sha256 FROM assistance_forwarded WHERE request_id = :r"
                ),
                {"r": request_id},
            ).one()
    finally:
        engine.dispose()


def test_a_watch_streams_a_forwarded_request_and_its_decision(items):
    """WatchMyRequests of 31's hall: the request forwarded to 35 in its backlog (pending),
    then, once 35 has refused it and 31 has pulled the decision, the refused request."""
    a, b = items
    holder = holder_code(a, 305)
    got = _submit(b, MANUAL, holder, "SH-A5")
    stream = _stub(b, b.hall).WatchMyRequests(apb.WatchMyRequestsRequest(follow=True), timeout=30)
    seen: list[tuple[str, int, str]] = []

    def collect() -> None:
        try:
            for message in stream:
                seen.append((message.request_id, message.status, message.provider_region))
        except grpc.RpcError:
            pass  # cancelled at the end

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    deadline = time.monotonic() + 10
    while (got.request_id, apb.REQUEST_STATUS_PENDING, "35") not in seen:
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)
    _stub(a, a.market).Refuse(
        apb.RefuseRequest(request_id=got.request_id, ground="NOT_HELD", explanation="无记录"),
        timeout=10,
    )
    deadline = time.monotonic() + 20
    while (got.request_id, apb.REQUEST_STATUS_REFUSED, "35") not in seen:
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)
    stream.cancel()
    reader.join(5)
