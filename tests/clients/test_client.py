"""YihaoClient against a scripted fake server on an insecure channel."""

from __future__ import annotations

import re
import time

import grpc
import pytest

from clients import RetryPolicy, YihaoClient, licence_ref
from services.common.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.licence_store.demo import BUSINESS_LICENCE
from yihao.v1 import licence_store_pb2 as pb

TYPE_CODE = BUSINESS_LICENCE.type_code

FAST = RetryPolicy(initial=0.001, maximum=0.002, deadline=5)


@pytest.fixture
def client(channel: grpc.Channel) -> YihaoClient:
    return YihaoClient(channel, retry=FAST, timeout=5)


def test_idempotency_key_is_filled_once_and_reused_across_retries(client, script) -> None:
    script.fail("IssueLicence", Unavailable("restarting"))
    licence = client.issue_licence(type_code=TYPE_CODE, licence_number="FZ-9")
    keys = [request.idempotency_key for request in script.seen("IssueLicence")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert re.fullmatch(r"[0-9a-f]{32}", keys[0])
    assert licence.licence_number == "FZ-9"


def test_each_new_call_gets_a_new_key(client, script) -> None:
    client.issue_licence(type_code=TYPE_CODE, licence_number="A")
    client.issue_licence(type_code=TYPE_CODE, licence_number="B")
    first, second = (r.idempotency_key for r in script.seen("IssueLicence"))
    assert first != second


def test_a_callers_key_is_kept_and_a_generated_one_written_back(client, script) -> None:
    client.suspend_licence(licence="T:1", reason_code="COURT_ORDER", idempotency_key="mine-0001")
    assert script.seen("SuspendLicence")[0].idempotency_key == "mine-0001"
    request = pb.RenewLicenceRequest(licence=licence_ref("T:1"))
    client.renew_licence(request)
    assert request.idempotency_key == script.seen("RenewLicence")[0].idempotency_key != ""


@pytest.mark.parametrize(
    ("method", "rpc"),
    [
        ("change_licence", "ChangeLicence"),
        ("renew_licence", "RenewLicence"),
        ("suspend_licence", "SuspendLicence"),
        ("revoke_licence", "RevokeLicence"),
    ],
)
def test_every_mutation_carries_a_key(client, script, method, rpc) -> None:
    getattr(client, method)(licence="T:1")
    assert script.seen(rpc)[0].idempotency_key


def test_rotate_signing_key_is_never_retried(client, script) -> None:
    script.fail("RotateSigningKey", Unavailable("lost reply"))
    with pytest.raises(Unavailable):
        client.rotate_signing_key(credit_code="X")
    assert len(script.seen("RotateSigningKey")) == 1


def test_reads_are_retried_and_errors_typed(client, script) -> None:
    script.fail("GetLicence", Unavailable("blip"), NotFound("no such licence", reason="NO_LICENCE"))
    with pytest.raises(NotFound) as caught:
        client.get_licence(licence="T:404")
    assert caught.value.reason == "NO_LICENCE"
    assert isinstance(caught.value.__cause__, grpc.RpcError)
    assert len(script.seen("GetLicence")) == 2


def test_per_call_timeout_reaches_the_server(client, script) -> None:
    client.get_licence(licence="T:1", timeout=2)
    client.ping()
    first, second = (remaining for name, _, remaining in script.calls)
    assert 0 < first <= 2.1  # gRPC rounds the propagated deadline up a little
    assert 2 < second <= 5.1


def test_deadline_exceeded_is_typed_and_not_retried(client, script) -> None:
    slow_enter = script.enter

    def slow(method, request, context):
        slow_enter(method, request, context)
        time.sleep(1.5)

    script.enter = slow
    with pytest.raises(DeadlineExceeded):
        # Long enough for the handler to start even on a loaded machine, short of its sleep.
        client.ping(payload="x", timeout=0.5)
    waited = time.monotonic() + 1.5
    while not script.seen("Ping") and time.monotonic() < waited:
        time.sleep(0.05)
    time.sleep(0.5)  # a retry, if there were one, would have arrived by now
    assert len(script.seen("Ping")) == 1


def test_request_message_or_fields_but_not_both(client, script) -> None:
    request = pb.GetLicenceRequest(licence=licence_ref("T:1"), version=3)
    client.get_licence(request)
    client.get_licence(licence=licence_ref("T:1"), version=3)
    client.get_licence(licence="T:1", version=3)
    assert script.seen("GetLicence") == [request] * 3
    with pytest.raises(TypeError):
        client.get_licence(request, version=2)
    with pytest.raises(TypeError):
        client.get_licence(pb.GetDepartmentRequest())


def test_licence_ref_forms() -> None:
    oid = "1.2.156.3005.2.11100000000013338W011.1135010052601815X2.ABC.001.X"
    assert licence_ref(oid) == pb.LicenceRef(licence_id=oid)
    assert licence_ref(f" {TYPE_CODE}:350100:0001 ").type_and_number == pb.TypeAndNumber(
        type_code=TYPE_CODE, licence_number="350100:0001"
    )
    for bad in ("FZ-0001", ":1", f"{TYPE_CODE}:", "1.2.156"):
        with pytest.raises(InvalidArgument):
            licence_ref(bad)


def test_list_methods_return_pages(client) -> None:
    page = client.list_licences_by_holder(holder_number="91350100M000100Y43")
    assert [lic.licence_number for lic in page.licences] == ["A-1"]
    assert page.next_page_token == "p2"
    assert client.list_departments().next_page_token == "next"
    assert client.list_licence_types(issuer_code="X").licence_types[0].name == "营业执照"


def test_watch_events_streams_and_can_be_left_early(client, script) -> None:
    events = list(client.watch_events(after_cursor=10, type_codes=[TYPE_CODE]))
    assert [e.cursor for e in events] == [11, 12, 13]
    assert script.seen("WatchEvents")[0].type_codes == [TYPE_CODE]
    stream = client.watch_events(follow=True)
    assert next(stream).cursor == 1
    stream.close()


def test_watch_events_error_is_typed(client, script) -> None:
    script.fail("WatchEvents", PermissionDenied("not a supervisor", reason="ROLE"))
    with pytest.raises(PermissionDenied):
        list(client.watch_events())


def _records(*holders: str):
    for line, holder in enumerate(holders, 2):
        request = pb.IssueLicenceRequest(
            idempotency_key=f"import:{line}", type_code=TYPE_CODE, licence_number=str(line)
        )
        request.holder.number = holder
        yield pb.ImportRecord(line=line, licence=request)


def test_import_licences_streams_results(client) -> None:
    results = list(client.import_licences(_records("OK", "BAD", "OK")))
    assert [(r.line, r.outcome) for r in results] == [
        (2, pb.IMPORT_OUTCOME_ACCEPTED),
        (3, pb.IMPORT_OUTCOME_REJECTED),
        (4, pb.IMPORT_OUTCOME_ACCEPTED),
    ]


def test_import_licences_packs_records_into_messages_of_per_message(client, script) -> None:
    holders = ["OK"] * 7
    results = list(client.import_licences(_records(*holders), per_message=3))
    assert [r.line for r in results] == list(range(2, 9))
    sent = script.seen("ImportLicencesRequest")
    assert [[r.line for r in m.records] for m in sent] == [[2, 3, 4], [5, 6, 7], [8]]


def test_import_licences_refuses_more_per_message_than_the_server_takes(client) -> None:
    with pytest.raises(ValueError, match="per_message"):
        list(client.import_licences(_records("OK"), per_message=1001))


def test_import_records_that_fail_midway_finish_then_raise(client) -> None:
    def broken():
        yield from _records("OK", "OK")
        raise OSError("disk gone")

    results = []
    with pytest.raises(OSError, match="disk gone"):
        for result in client.import_licences(broken()):
            results.append(result)
    assert [r.line for r in results] == [2, 3]


def test_client_does_not_close_a_channel_it_was_given(channel) -> None:
    with YihaoClient(channel) as client:
        client.ping()
    assert YihaoClient(channel).ping().caller_code
