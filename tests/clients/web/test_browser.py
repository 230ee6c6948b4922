"""The desk in a real headless Chromium (Debian's), against the real gRPC stack: sign in, the
dashboard (the department's name comes from the services over mutual TLS), sign out, a forged
form refused, lockout. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import re

import pytest

from testsupport.browser import screenshot

pytestmark = pytest.mark.browser


def _sign_in(page, account: str, password: str) -> None:
    page.goto("/signin")
    page.fill("#f-account", account)
    page.fill("#f-password", password)
    page.press("#f-password", "Enter")
    page.wait_for_load_state()


def test_sign_in_see_the_dashboard_and_sign_out(page) -> None:
    page.goto("/")
    assert re.search(r"/signin\?m=signin_required&next=/$", page.url)
    screenshot(page, "desk-signin")
    _sign_in(page, "handler", "handler-password")
    assert page.url.endswith("/")
    assert "福州市行政服务中心" in page.inner_text("#department")  # from the services
    assert page.get_by_role("link", name=re.compile("窗口核验")).count() == 2  # nav + card
    assert page.get_by_role("link", name=re.compile("证照管理")).count() == 0
    assert page.evaluate("typeof htmx") == "object"  # the vendored script ran under the CSP
    screenshot(page, "desk-dashboard")
    page.click("#signout")
    page.wait_for_url(re.compile(r"/signin\?m=signed_out$"))
    assert "已安全退出" in page.inner_text("#flash")
    page.goto("/")
    assert "/signin" in page.url
    assert page.csp_violations == []


def test_a_handler_cannot_open_the_operator_desk(page) -> None:
    _sign_in(page, "handler", "handler-password")
    response = page.goto("/operator")
    assert response is not None and response.status == 403
    assert "无权访问" in page.inner_text("main")


def test_a_forged_form_is_refused_and_the_session_survives(page) -> None:
    _sign_in(page, "operator", "operator-password")
    page.eval_on_selector(".signout input[name=csrf_token]", "e => e.value = 'forged'")
    page.click("#signout")
    page.wait_for_load_state()
    assert "表单已失效" in page.inner_text("main")
    response = page.goto("/")
    assert response is not None and response.status == 200  # still signed in


def test_an_account_locks_after_failed_sign_ins(page) -> None:
    for _ in range(3):
        _sign_in(page, "locky", "wrong-password")
    assert "已暂时锁定" in page.inner_text("#refusal")
    _sign_in(page, "locky", "locky-password")  # the right password, while locked
    assert "已暂时锁定" in page.inner_text("#refusal")
    assert "/signin" in page.url


def test_an_idle_session_expires_and_sign_in_returns_to_the_page(page, live_clock) -> None:
    _sign_in(page, "handler", "handler-password")
    live_clock.advance(601)
    page.get_by_role("link", name=re.compile("窗口核验")).first.click()
    page.wait_for_url(re.compile(r"/signin\?m=expired&next=/counter$"))
    assert "会话已过期" in page.inner_text("#flash")
    page.fill("#f-account", "handler")
    page.fill("#f-password", "handler-password")
    page.press("#f-password", "Enter")
    page.wait_for_url(re.compile(r"/counter$"))
    assert "窗口核验" in page.inner_text("main h1")  # back on the page asked for


def test_htmx_requests_carry_the_csrf_token_from_the_page(page) -> None:
    _sign_in(page, "operator", "operator-password")
    with page.expect_response(lambda r: r.url.endswith("/signout")) as posted:
        page.evaluate("htmx.ajax('POST', '/signout', {source: document.body, target: '#main'})")
    assert posted.value.status == 303  # accepted: the X-CSRF-Token header came from hx-headers
    assert posted.value.request.headers["x-csrf-token"]
    page.goto("/")
    assert "/signin" in page.url  # the session really ended
    assert page.csp_violations == []
