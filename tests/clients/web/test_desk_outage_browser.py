"""The counter desk in a real headless Chromium when the gRPC services go away and come back
(issue 13 item 6): while they are down a handler gets a plain page saying what happened and
what to do (no stack trace, nothing done), and the desk works again, the same form included,
once they return. And the counter on a tablet (820×1180, upright): nothing cut off, the form
usable by touch-sized controls."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from services.server import build_server
from testsupport.browser import (
    TABLET_UPRIGHT,
    DeskStack,
    cut_off,
    desk_stack,
    fresh_tab,
    screenshot,
)
from testsupport.samples import issue_business_licence

pytestmark = pytest.mark.browser

ACCOUNTS = (("handler", "窗口甲", "hall", ("handler",), "handler-password"),)
HOLDER = "91350100M000100Y43"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskStack]:
    """Its own stack and desk: the test stops and restarts these services."""
    with desk_stack(tmp_path_factory.mktemp("outage-var"), ACCOUNTS) as live:
        yield live


@pytest.fixture
def tab(chromium: Any, desk: DeskStack) -> Iterator[Any]:
    with fresh_tab(chromium, desk.url, timeout_ms=15_000) as page:
        page.goto("/signin?next=/counter")
        page.fill("#f-account", "handler")
        page.fill("#f-password", "handler-password")
        page.press("#f-password", "Enter")
        page.wait_for_url(re.compile(r"/counter$"))
        yield page


def _issue(desk: DeskStack) -> str:
    """A business licence issued through the real services; its reference TYPE:NUMBER."""
    licence = issue_business_licence(desk.stack.store("market"), HOLDER)
    return f"{licence.type_code}:{licence.licence_number}"


def _submit(page: Any, licence: str) -> Any:
    """Fill the counter's form and send it; the navigation's response."""
    page.fill("#f-licence", licence)
    page.fill("#f-holder_number", HOLDER)
    with page.expect_navigation() as navigation:
        page.click("#verify")
    return navigation.value


def _stop_services(desk: DeskStack) -> None:
    desk.stack.server.stop(0).wait()


def _restart_services(desk: DeskStack) -> None:
    """The same services back on the same address (as after a restart of the server)."""
    server, port, _health = build_server(desk.stack.app, listen=desk.stack.address)
    assert port == desk.stack.port
    server.start()
    desk.stack.server = server


def _verdict_when_back(page: Any, licence: str, seconds: float = 30.0) -> str | None:
    """Send the counter's form until the services answer again; their verdict."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.goto("/counter")
        if _submit(page, licence).status == 200:
            return page.get_attribute("#verdict", "data-verdict")
        time.sleep(0.5)
    return None


def test_services_down_shows_a_plain_page_and_the_desk_recovers(tab, desk) -> None:
    licence = _issue(desk)
    assert _submit(tab, licence).status == 200
    assert tab.get_attribute("#verdict", "data-verdict") == "valid"
    tab.goto("/counter")
    tab.fill("#f-licence", licence)
    tab.fill("#f-holder_number", HOLDER)
    form = tab.eval_on_selector("#verify-form", "f => Object.fromEntries(new FormData(f))")

    _stop_services(desk)
    try:
        with tab.expect_navigation() as navigation:
            tab.click("#verify")
        assert navigation.value.status == 503
        problem = tab.inner_text("main")
        assert "服务暂时不可用" in problem and "Service unavailable" in problem
        assert "try again in a moment" in problem and "Nothing was done" in problem
        assert "Traceback" not in tab.content() and "grpc" not in problem.lower()
        assert tab.locator('section.problem-503[role="alert"]').count() == 1
        assert tab.is_visible("main a[href='/']")  # a way back
        screenshot(tab, "desk-services-unavailable")
        tab.goto("/counter")  # the desk itself still serves its pages
        assert tab.is_visible("#f-licence") and tab.is_visible("#verify")
    finally:
        _restart_services(desk)

    assert _verdict_when_back(tab, licence) == "valid"
    # The form sent while the services were down was not used up: sent again, it verifies.
    again = tab.request.post("/counter", form=form)
    assert again.status == 200 and 'data-verdict="valid"' in again.text()


def test_the_counter_on_a_tablet(tab, desk) -> None:
    licence = _issue(desk)
    tab.set_viewport_size(TABLET_UPRIGHT)
    tab.goto("/counter")
    assert tab.evaluate("document.documentElement.scrollWidth") <= TABLET_UPRIGHT["width"]
    assert cut_off(tab) == []
    for control in ("#f-licence", "#f-holder_number", "#verify"):
        box = tab.locator(control).bounding_box()
        assert box is not None and box["height"] >= 32, (control, box)  # big enough to touch
    assert _submit(tab, licence).status == 200
    verdict = tab.locator("#verdict")
    assert verdict.get_attribute("data-verdict") == "valid"
    assert verdict.is_visible()
    assert cut_off(tab) == []
    screenshot(tab, "desk-counter-tablet")
