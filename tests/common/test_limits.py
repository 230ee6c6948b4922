"""List pages stop before the byte budget and continue after the last entry they hold."""

from __future__ import annotations

from services.common.limits import PAGE_BUDGET_BYTES, fitting
from services.common.paging import decode_token, encode_token, page_after, sized_page


def test_fitting_keeps_what_stays_under_the_budget_and_never_nothing():
    assert fitting([10, 10, 10], budget=100) == 3
    assert fitting([40, 40, 40], budget=100) == 2  # 45 + 45 = 90; a third would be 135
    assert fitting([500, 1], budget=100) == 1  # one entry always goes
    assert fitting([]) == 0
    assert fitting([PAGE_BUDGET_BYTES // 2] * 3) == 1


def test_sized_page_continues_after_the_last_entry_kept():
    items = ["a", "b", "c", "d"]
    kept, token = sized_page(items, items, [2_000_000] * 4, lambda i: i, "next-from-store")
    assert kept == ["a"] and decode_token(token) == "a"
    kept, token = sized_page(items, items, [10] * 4, lambda i: i, "next-from-store")
    assert kept == items and token == "next-from-store"


def test_page_after_walks_every_entry_once():
    items = [f"k{i:02d}" for i in range(25)]
    seen, token = [], ""
    while True:
        page, token = page_after(items, lambda i: i, 10, token)
        seen += page
        if not token:
            break
    assert seen == items
    assert page_after(items, lambda i: i, 10, encode_token("k24")) == ([], "")
