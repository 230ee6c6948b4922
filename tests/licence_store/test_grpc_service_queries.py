"""The licence store through a real gRPC server with mutual TLS, on SQLite and PostgreSQL:
listing a holder's licences (filters, pages, bad tokens) and watching the event stream
(from a cursor, following, newest first).
"""

from __future__ import annotations

import grpc
import pytest

from tests.licence_store.grpc_service_helpers import (
    PERSON,
    RESIDENCE,
    issue_business,
    issue_residence,
    status_request,
)
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

# ------------------------------------------------------------------------------------ queries


def test_list_by_holder_filters_and_pages(stack):
    for i in range(5):
        issue_residence(stack, f"R-{i}")
    store = stack.store("police")
    store.CancelLicence(
        status_request(
            store.GetLicence(
                pb.GetLicenceRequest(
                    **WHY,
                    licence=pb.LicenceRef(
                        type_and_number=pb.TypeAndNumber(type_code=RESIDENCE, licence_number="R-0")
                    ),
                )
            ).licence_id,
            "REPLACED",
        )
    )
    seen, token = [], ""
    while True:
        page = store.ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(
                **WHY, holder_number=PERSON, page_size=2, page_token=token
            )
        )
        seen += [lic.licence_number for lic in page.licences]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == [f"R-{i}" for i in range(5)]
    active = store.ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(
            **WHY,
            holder_number=PERSON,
            statuses=[common.LICENCE_STATUS_ACTIVE],
            type_codes=[RESIDENCE],
        )
    )
    assert sorted(lic.licence_number for lic in active.licences) == [f"R-{i}" for i in range(1, 5)]


def test_bad_page_token_and_size_are_invalid(stack):
    store = stack.store("police")
    for request in (
        pb.ListLicencesByHolderRequest(**WHY, holder_number=PERSON, page_token="garbage!"),
        pb.ListLicencesByHolderRequest(**WHY, holder_number=PERSON, page_size=100000),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            store.ListLicencesByHolder(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_events_from_a_cursor_and_following(stack):
    store = stack.store("market")
    first = issue_business(stack, number="W-1")
    backlog = list(store.WatchEvents(pb.WatchEventsRequest(after_cursor=0)))
    assert [(e.kind, e.licence_id) for e in backlog] == [(pb.EVENT_KIND_ISSUED, first.licence_id)]
    stream = store.WatchEvents(pb.WatchEventsRequest(after_cursor=backlog[-1].cursor, follow=True))
    second = issue_business(stack, number="W-2")
    event = next(stream)
    assert (event.licence_id, event.cursor > backlog[-1].cursor) == (second.licence_id, True)
    stream.cancel()


def test_watch_events_newest_first_pages_backwards(stack):
    store = stack.store("market")
    ids = [issue_business(stack, number=f"N-{i}").licence_id for i in range(5)]
    first = list(store.WatchEvents(pb.WatchEventsRequest(newest_first=True, limit=2)))
    assert [e.licence_id for e in first] == ids[:-3:-1]  # the two newest, newest first
    second = list(
        store.WatchEvents(
            pb.WatchEventsRequest(newest_first=True, before_cursor=first[-1].cursor, limit=2)
        )
    )
    assert [e.licence_id for e in second] == [ids[2], ids[1]]
    rest = pb.WatchEventsRequest(newest_first=True, before_cursor=second[-1].cursor)
    assert [e.licence_id for e in store.WatchEvents(rest)] == [ids[0]]  # default limit: 50
    for bad in (
        pb.WatchEventsRequest(newest_first=True, follow=True),
        pb.WatchEventsRequest(newest_first=True, after_cursor=3),
        pb.WatchEventsRequest(newest_first=True, limit=501),
        pb.WatchEventsRequest(newest_first=True, before_cursor=-1),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            list(store.WatchEvents(bad))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
