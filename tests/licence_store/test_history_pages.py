"""GetLicenceHistory in pages: versions (oldest first), then events, each page at most
page_size of them and under the byte budget, every version and event exactly once; the client
library follows the pages. A licence changed five times at the catalogue's maximums (~0.8 MB a
version) had a 4.8 MB history that no caller could receive (RESOURCE_EXHAUSTED). Real server,
both backends."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import func, select

from clients import YihaoClient
from services.common.access_log import access_records
from services.common.limits import PAGE_BUDGET_BYTES
from tests.licence_store.test_list_by_holder_size import (
    BIG_TYPE,
    FIELDS,
    WHY,
    issue_big,
    register_big_type,
)
from testsupport.stack import Stack
from yihao.v1 import licence_store_pb2 as pb


def _ref(number: str) -> pb.LicenceRef:
    return pb.LicenceRef(
        type_and_number=pb.TypeAndNumber(type_code=BIG_TYPE, licence_number=number)
    )


def _big_history(stack: Stack, changes: int) -> str:
    register_big_type(stack)
    number = issue_big(stack, 0)
    for n in range(changes):
        stack.store("market").ChangeLicence(
            pb.ChangeLicenceRequest(
                idempotency_key=f"big-change-{n}",
                licence=_ref(number),
                fields={name: "照" * 4096 if n % 2 == 0 else "证" * 4096 for name in FIELDS},
                reason=f"第{n + 1}次变更",
            )
        )
    return number


def _pages(stack: Stack, number: str, size: int = 0) -> list[pb.LicenceHistory]:
    pages, token = [], ""
    while True:
        page = stack.store("market").GetLicenceHistory(
            pb.GetLicenceRequest(licence=_ref(number), page_size=size, page_token=token, **WHY)
        )
        pages.append(page)
        token = page.next_page_token
        if not token:
            return pages
        assert len(pages) < 50, "the token does not move on"


def _records(stack: Stack) -> int:
    with stack.app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(access_records)).scalar_one())


def test_a_big_history_comes_over_pages_under_the_budget(stack: Stack) -> None:
    number = _big_history(stack, changes=5)  # six versions, ~4.8 MB
    before = _records(stack)
    pages = _pages(stack, number)
    assert len(pages) >= 2
    for page in pages:
        assert page.ByteSize() <= PAGE_BUDGET_BYTES + 1024, page.ByteSize()
    versions = [v.version for page in pages for v in page.versions]
    events = [e.cursor for page in pages for e in page.events]
    assert versions == [1, 2, 3, 4, 5, 6]  # each once, oldest first
    assert len(events) == 6 and events == sorted(events)  # issued + five changes
    with_versions = sum(1 for page in pages if page.versions)
    assert _records(stack) - before == with_versions  # each page that read data, recorded
    client = YihaoClient(stack.channel("market"), timeout=30)
    whole = client.get_licence_history(licence=_ref(number), **WHY)  # follows the pages
    assert [v.version for v in whole.versions] == versions
    assert [e.cursor for e in whole.events] == events and not whole.next_page_token


def test_small_pages_walk_versions_then_events_exactly_once(stack: Stack) -> None:
    number = _big_history(stack, changes=2)  # three versions, three events
    pages = _pages(stack, number, size=2)
    shape = [(len(p.versions), len(p.events)) for p in pages]
    assert shape == [(2, 0), (1, 2), (0, 1)]
    assert [v.version for p in pages for v in p.versions] == [1, 2, 3]
    assert len({e.cursor for p in pages for e in p.events}) == 3
    whole = YihaoClient(stack.channel("market"), timeout=30).get_licence_history(
        licence=_ref(number), page_size=2, **WHY
    )  # one page asked for: one page given
    assert [v.version for v in whole.versions] == [1, 2] and whole.next_page_token


@pytest.mark.parametrize(
    ("size", "token", "field"),
    [(1001, "", "page_size"), (-1, "", "page_size"), (0, "not-a-token", "page_token")],
)
def test_a_bad_page_size_or_token_names_the_field(
    stack: Stack, size: int, token: str, field: str
) -> None:
    number = _big_history(stack, changes=0)
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicenceHistory(
            pb.GetLicenceRequest(licence=_ref(number), page_size=size, page_token=token, **WHY)
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()
