"""ListPending a page at a time (issue 21's leftover): the provider's whole queue in deadline
order across pages, ties broken by request id, a request decided between two pages neither
repeated nor skipping another, and bad page tokens and sizes refused naming the field.
Through a real gRPC server, both backends."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.clock import FixedClock
from services.common.paging import encode_token
from tests.assistance.test_provisional_deadlines import submit
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb


def queue(stack: Stack, page_size: int) -> tuple[list[str], int]:
    """The education bureau's whole queue, page after page: (request ids, pages)."""
    ids: list[str] = []
    token, pages = "", 0
    while True:
        page = stack.assistance("education").ListPending(
            apb.ListRequestsRequest(page_size=page_size, page_token=token)
        )
        ids += [r.request_id for r in page.requests]
        pages += 1
        token = page.next_page_token
        if not token:
            return ids, pages
        assert pages < 100, "the token does not move on"


def field_refused(call) -> tuple[str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    for detail in rpc_status.from_call(caught.value).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field, bad.field_violations[0].reason
    raise AssertionError("no field violation")


def test_the_whole_queue_comes_in_deadline_order_page_by_page(stack: Stack, clock: FixedClock):
    made = []
    for day in range(3):  # three submissions a day: three of each deadline
        made += [submit(stack, f"pending-page-{day}-{n}") for n in range(3)]
        clock.advance(timedelta(days=1))
    whole = stack.assistance("education").ListPending(apb.ListRequestsRequest(page_size=1000))
    assert whole.next_page_token == ""
    by_deadline = sorted(made, key=lambda r: (r.deadline.ToDatetime(), r.request_id))
    expected = [r.request_id for r in by_deadline]
    assert [r.request_id for r in whole.requests] == expected
    for size in (1, 2, 4):
        ids, pages = queue(stack, size)
        assert ids == expected, size
        assert pages == -(-len(expected) // size), size  # no empty page at the end


def test_a_request_decided_between_pages_moves_nothing_else(stack: Stack, clock: FixedClock):
    made = [submit(stack, f"pending-move-{n}") for n in range(5)]
    education = stack.assistance("education")
    first = education.ListPending(apb.ListRequestsRequest(page_size=2))
    shown = [r.request_id for r in first.requests]
    assert shown == sorted(r.request_id for r in made)[:2]
    education.Refuse(
        apb.RefuseRequest(request_id=shown[0], ground="NOT_HELD", explanation="本局未掌握")
    )
    rest = education.ListPending(
        apb.ListRequestsRequest(page_size=10, page_token=first.next_page_token)
    )
    assert [r.request_id for r in rest.requests] == sorted(r.request_id for r in made)[2:]


def test_bad_page_tokens_and_sizes_are_refused_naming_the_field(stack: Stack):
    education = stack.assistance("education")
    for token in ("garbage", encode_token("not-a-time|x"), encode_token("2026-06-01T00:00:00|")):
        found = field_refused(
            lambda token=token: education.ListPending(apb.ListRequestsRequest(page_token=token))
        )
        assert found == ("page_token", "PAGE_TOKEN"), token
    naive = encode_token("2026-06-01T00:00:00|REQ1")  # no time zone: not one we made
    assert field_refused(
        lambda: education.ListPending(apb.ListRequestsRequest(page_token=naive))
    ) == ("page_token", "PAGE_TOKEN")
    assert field_refused(
        lambda: education.ListPending(apb.ListRequestsRequest(page_size=1001))
    ) == ("page_size", "OUT_OF_RANGE")
