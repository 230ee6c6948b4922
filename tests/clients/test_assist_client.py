"""YihaoClient's assistance methods against a scripted fake Assistance server (insecure)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from clients import RetryPolicy, YihaoClient
from services.common.errors import FailedPrecondition, PermissionDenied, Unavailable
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc

FAST = RetryPolicy(initial=0.001, maximum=0.002, deadline=5)


class FakeAssistance(assistance_pb2_grpc.AssistanceServicer):
    """Echoes what it was asked, recording every call in the conftest ``script``."""

    def __init__(self, script) -> None:
        self.script = script

    def _request(self, name, request, context, **fields) -> apb.AssistanceRequest:
        self.script.enter(name, request, context)
        return apb.AssistanceRequest(request_id="A20260601ABCDEF0123456789", **fields)

    def SubmitRequest(self, request, context):
        return self._request(
            "SubmitRequest",
            request,
            context,
            item_code=request.item_code,
            status=apb.REQUEST_STATUS_PENDING,
        )

    def GetRequest(self, request, context):
        return self._request("GetRequest", request, context)

    def Answer(self, request, context):
        return self._request(
            "Answer", request, context, status=apb.REQUEST_STATUS_ANSWERED, answer=request.data
        )

    def Refuse(self, request, context):
        return self._request("Refuse", request, context, refusal_ground=request.ground)

    def Urge(self, request, context):
        return self._request("Urge", request, context)

    def ListItems(self, request, context):
        self.script.enter("ListItems", request, context)
        return apb.ListItemsResponse(items=[apb.AssistanceItem(code="XZXZ-MZ-001")])

    def ListMyRequests(self, request, context):
        self.script.enter("ListMyRequests", request, context)
        return apb.ListRequestsResponse(next_page_token="p2")

    def ListPending(self, request, context):
        self.script.enter("ListPending", request, context)
        return apb.ListRequestsResponse()

    def WatchMyRequests(self, request, context):
        self.script.enter("WatchMyRequests", request, context)
        for version in (1, 2, 3):
            yield apb.AssistanceRequest(request_id="A1", version=version)

    def Supervise(self, request, context):
        self.script.enter("Supervise", request, context)
        codes = request.department_codes
        return apb.SupervisionReport(
            departments=[apb.DepartmentFigures(department_code=c) for c in codes]
        )

    def ListAccessRecords(self, request, context):
        self.script.enter("ListAccessRecords", request, context)
        return apb.ListAccessRecordsResponse(records=[apb.AccessRecord(channel="assistance")])

    def RecordCommitment(self, request, context):
        self.script.enter("RecordCommitment", request, context)
        return apb.Commitment(commitment_id="C1", case_number=request.case_number)

    def ListCommitments(self, request, context):
        self.script.enter("ListCommitments", request, context)
        return apb.ListCommitmentsResponse()

    def CheckCommitments(self, request, context):
        self.script.enter("CheckCommitments", request, context)
        return apb.ListCommitmentsResponse(commitments=[apb.Commitment(commitment_id="C1")])


@pytest.fixture
def client(script) -> Iterator[YihaoClient]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    assistance_pb2_grpc.add_AssistanceServicer_to_server(FakeAssistance(script), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield YihaoClient(channel, retry=FAST, timeout=5)
    server.stop(grace=None)


def test_submit_request_key_is_filled_once_and_kept_across_retries(client, script) -> None:
    script.fail("SubmitRequest", Unavailable("restarting"))
    submitted = client.submit_request(item_code="XZXZ-MZ-001", holder_number="X")
    keys = [r.idempotency_key for r in script.seen("SubmitRequest")]
    assert len(keys) == 2 and keys[0] == keys[1] and re.fullmatch(r"[0-9a-f]{32}", keys[0])
    assert submitted.item_code == "XZXZ-MZ-001"


def test_submit_request_keeps_a_callers_key_and_writes_a_new_one_back(client, script) -> None:
    client.submit_request(item_code="I", idempotency_key="mine-0001")
    request = apb.SubmitRequestRequest(item_code="I")
    client.submit_request(request)
    first, second = (r.idempotency_key for r in script.seen("SubmitRequest"))
    assert first == "mine-0001"
    assert second == request.idempotency_key != ""


@pytest.mark.parametrize(
    ("method", "rpc", "fields"),
    [
        ("urge", "Urge", {"request_id": "A1", "note": "请尽快办理"}),
        ("record_commitment", "RecordCommitment", {"case_number": "ZJ-1"}),
    ],
)
def test_calls_without_idempotency_are_never_retried(client, script, method, rpc, fields) -> None:
    script.fail(rpc, Unavailable("lost reply"))
    with pytest.raises(Unavailable):
        getattr(client, method)(**fields)
    assert len(script.seen(rpc)) == 1


def test_answer_and_refuse_are_retried_and_errors_typed(client, script) -> None:
    script.fail("Answer", Unavailable("blip"))
    answered = client.answer(request_id="A1", data={"degree": "工学学士"})
    assert dict(answered.answer) == {"degree": "工学学士"}
    assert len(script.seen("Answer")) == 2
    script.fail("Refuse", FailedPrecondition("answered already", reason="REQUEST_NOT_PENDING"))
    with pytest.raises(FailedPrecondition) as caught:
        client.refuse(request_id="A1", ground="NOT_HELD", explanation="x")
    assert caught.value.reason == "REQUEST_NOT_PENDING"


def test_request_message_or_fields_and_every_reply_type(client, script) -> None:
    assert client.list_items(apb.ListItemsRequest(text="MZ")).items[0].code == "XZXZ-MZ-001"
    assert client.list_items(text="MZ") == client.list_items(apb.ListItemsRequest(text="MZ"))
    with pytest.raises(TypeError):
        client.list_items(apb.ListItemsRequest(), text="MZ")
    assert client.get_request(request_id="A1").request_id
    assert client.list_my_requests(status=apb.REQUEST_STATUS_PENDING).next_page_token == "p2"
    assert not client.list_pending(page_size=10).requests
    report = client.supervise(department_codes=["P1", "P2"])
    assert [d.department_code for d in report.departments] == ["P1", "P2"]
    assert client.list_access_records(holder_number="X").records[0].channel == "assistance"
    assert client.record_commitment(case_number="ZJ-9").case_number == "ZJ-9"
    assert not client.list_commitments(status=apb.COMMITMENT_STATUS_BROKEN).commitments
    assert [c.commitment_id for c in client.check_commitments().commitments] == ["C1"]


def test_watch_my_requests_streams_and_errors_are_typed(client, script) -> None:
    assert [r.version for r in client.watch_my_requests(follow=False)] == [1, 2, 3]
    assert script.seen("WatchMyRequests")[0].follow is False
    stream = client.watch_my_requests(follow=True)
    assert next(stream).version == 1
    stream.close()
    script.fail("WatchMyRequests", PermissionDenied("not a requester", reason="ROLE_REQUIRED"))
    with pytest.raises(PermissionDenied):
        list(client.watch_my_requests())
