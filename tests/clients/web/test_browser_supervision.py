"""The supervision room in a real headless Chromium, against the real gRPC stack: a
supervisor sees an overdue request and urges it (once, however often the form is sent), the
charts render, the health panel reads the services and the log, the access records of a
holder (the supervisor's own read recorded, with the staff member), and axe-core finds no
serious or critical accessibility violation. Screenshots go to docs/screenshots/.

The services and the desk share a clock the test moves (Monday 1 June 2026, 10:00 in China,
then eight days on: past the 5th working day of the requests' time limit)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.common.clock import FixedClock
from testsupport.browser import TABLET_UPRIGHT, cut_off, desk_stack, fresh_tab, screenshot
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import verifier_pb2 as vpb

pytestmark = pytest.mark.browser

MONDAY_10AM = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
GRADUATE = "320106198707105231"
ACCOUNTS = (("jian.cha", "监察丙", "supervision", ("supervisor",), "supervisor-password"),)
#: axe-core rules run (WCAG 2.1 A and AA); impacts that fail the test.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}


def _submit(live: Any, key: str) -> Any:
    return live.stack.assistance("hrss").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key=key,
            item_code="XZXZ-GA-001",
            holder_number=GRADUATE,
            purpose="职业资格审查",
            legal_basis="《中华人民共和国户口登记条例》第十九条",
            case_number="RS-2026-007",
        )
    )


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The stack with three requests to the police: one answered, one refused, one left to
    go overdue; then eight days pass and a fresh log head is signed."""
    clock = FixedClock(MONDAY_10AM)
    with desk_stack(tmp_path_factory.mktemp("sv-var"), ACCOUNTS, services_clock=clock) as live:
        police = live.stack.assistance("police")
        answered = _submit(live, "sv-answered-1")
        police.Answer(
            apb.AnswerRequest(
                request_id=answered.request_id, data={"has_record": "false", "scope": "福建省"}
            )
        )
        refused = _submit(live, "sv-refused-01")
        police.Refuse(
            apb.RefuseRequest(
                request_id=refused.request_id, ground="NOT_HELD", explanation="本局未掌握其记录"
            )
        )
        late = _submit(live, "sv-late-0001")
        clock.advance(timedelta(days=8))
        live.stack.verifier("supervision").GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
        live.late_id = late.request_id
        yield live


@pytest.fixture
def tab(chromium: Any, room: Any) -> Iterator[Any]:
    with fresh_tab(chromium, room.url, timeout_ms=15_000) as page:
        page.goto("/signin?next=/supervision")
        page.fill("#f-account", "jian.cha")
        page.fill("#f-password", "supervisor-password")
        page.press("#f-password", "Enter")
        page.wait_for_url(re.compile(r"/supervision$"))
        yield page


def _axe(page: Any) -> list[str]:
    """axe-core (vendored) on the page: the serious and critical violations, as text."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]


def test_a_supervisor_sees_the_overdue_request_and_urges_it_once(tab, room) -> None:
    row = tab.locator(f"#sv-overdue tr[data-request='{room.late_id}']")
    cells = row.inner_text()
    assert "福州市公安局" in cells and "XZXZ-GA-001" in cells
    assert "10 小时" in cells  # over since 8 June 23:59; now 9 June 10:00
    tab.select_option("#f-item", "XZXZ-JY-001")  # htmx swaps the table: not that item
    tab.locator("#sv-overdue tr[data-request]").first.wait_for(state="detached")
    tab.select_option("#f-item", "")
    row.wait_for()
    row.get_by_role("link").click()
    tab.wait_for_url(re.compile(f"/supervision/requests/{room.late_id}$"))
    assert "超期" in tab.inner_text("#request-status")
    assert GRADUATE not in tab.content()  # the holder's number is masked
    tab.fill("#f-note", "已超期，请于今日办结")
    # The form sent twice (a double click): it acts once.
    form = tab.eval_on_selector("#urge-form", "f => Object.fromEntries(new FormData(f))")
    tab.click("#urge")
    tab.wait_for_url(re.compile(r"\?m=urged$"))
    assert "已催办" in tab.inner_text("#flash")
    assert "已超期，请于今日办结" in tab.inner_text("#timeline")
    again = tab.request.post(f"/supervision/requests/{room.late_id}", form=form)
    assert again.ok and "未再次催办" in again.text()
    found = room.stack.assistance("supervision").GetRequest(
        apb.GetRequestRequest(request_id=room.late_id)
    )
    assert [u.note for u in found.urgings] == ["已超期，请于今日办结"]
    screenshot(tab, "supervision-request")
    assert _axe(tab) == []
    assert tab.csp_violations == []


def test_the_charts_render_from_the_services_figures(tab) -> None:
    tab.wait_for_selector("#chart-on-time[data-rendered]")
    tab.wait_for_selector("#chart-refusal[data-rendered]")
    assert tab.get_attribute("#chart-on-time", "data-rendered") == "1"  # the police
    assert tab.locator("#chart-on-time canvas").count() >= 1
    data = tab.evaluate("fetch('/supervision/trends.json').then(r => r.json())")
    june = data["months"].index("2026-06")
    police = data["series"][0]
    assert police["name"] == "福州市公安局"
    assert (police["on_time"][june], police["refusal"][june]) == (100.0, 50.0)
    tab.wait_for_selector("#sv-head-size")
    screenshot(tab, "supervision-room")
    assert tab.csp_violations == []


def test_the_health_panel_reads_the_services_and_the_log(tab) -> None:
    tab.wait_for_selector("#sv-head-size")
    services = tab.inner_text("#sv-services")
    assert services.count("正常") == 4, services
    assert int(tab.inner_text("#sv-head-size")) > 0
    assert tab.locator("#sv-head-stale").count() == 0  # signed just now (the test's clock)


def test_access_records_of_a_holder_with_the_supervisors_own_read(tab) -> None:
    tab.click("#link-access")
    tab.wait_for_url(re.compile(r"/supervision/access$"))
    tab.click("#access-search")  # nothing typed: each field says what it needs
    tab.wait_for_selector("#e-holder_number")
    assert tab.locator(".field-error").count() == 3
    tab.fill("#f-holder_number", GRADUATE)
    tab.fill("#f-purpose", "投诉核查")
    tab.fill("#f-case_number", "JC-2026-001")
    tab.click("#access-search")
    tab.wait_for_selector("#access-records")
    assert GRADUATE not in tab.url and tab.url.endswith("/supervision/access")
    rows = tab.locator("#access-records tbody tr")
    first = rows.nth(0).inner_text()  # newest first: this very read, by this staff member
    assert "福州市电子监察中心" in first and "jian.cha" in first and "电子监察" in first
    assert "投诉核查" in first and "JC-2026-001" in first
    everything = tab.inner_text("#access-records")
    assert "福州市人力资源和社会保障局" in everything  # the requester's answered read
    screenshot(tab, "supervision-access")
    assert _axe(tab) == []
    assert tab.csp_violations == []


def test_the_supervision_room_passes_axe(tab) -> None:
    tab.wait_for_selector("#chart-on-time[data-rendered]")
    tab.wait_for_selector("#sv-head-size")
    assert _axe(tab) == []


def test_the_supervision_room_fits_a_tablet(tab, room) -> None:
    """At 820×1180 upright nothing is cut off (wide tables scroll in their own box) and the
    filters still work: the overdue request is found and opened by touch-sized controls."""
    tab.set_viewport_size(TABLET_UPRIGHT)
    tab.reload()
    tab.wait_for_selector("#chart-on-time[data-rendered]")
    tab.wait_for_selector("#sv-head-size")
    assert tab.evaluate("document.documentElement.scrollWidth") <= TABLET_UPRIGHT["width"]
    assert cut_off(tab) == []
    for control in ("#f-provider", "#f-item", "#sv-apply"):
        box = tab.locator(control).bounding_box()
        assert box is not None and box["height"] >= 24, (control, box)
    tab.select_option("#f-item", "XZXZ-GA-001")
    row = tab.locator(f"#sv-overdue tr[data-request='{room.late_id}']")
    row.get_by_role("link").click()
    tab.wait_for_url(re.compile(f"/supervision/requests/{room.late_id}$"))
    assert cut_off(tab) == []
    assert tab.is_visible("#f-note") and tab.is_visible("#urge")
