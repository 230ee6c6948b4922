"""Staff accounts in a real headless Chromium against the real stack: an administrator adds an
account (a field error first, fixed in place), the new member of staff signs in, the
administrator sets their password — they are signed out at once — and disables the account.
axe-core finds no serious or critical violation on the page, which fits a tablet upright."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.clients.web.test_holder_browser import axe
from testsupport.browser import TABLET_UPRIGHT, cut_off, fresh_tab, screenshot

pytestmark = pytest.mark.browser


def _sign_in(page: Any, account: str, password: str, next_path: str) -> None:
    page.goto(f"/signin?next={next_path}")
    page.fill("#f-account", account)
    page.fill("#f-password", password)
    page.press("#f-password", "Enter")
    page.wait_for_url(re.compile(rf"{next_path}$"))


def test_an_administrator_manages_a_staff_account(page, chromium, live_desk) -> None:
    account = f"staff.{uuid.uuid4().hex[:6]}"
    _sign_in(page, "admin", "admin-password", "/accounts")
    page.fill("#f-account", account)
    page.fill("#f-display_name", "赵六")
    page.fill("#f-department", "hall")
    page.check("input[name=roles][value=handler]")
    page.fill("#f-password", "first-password-1")
    page.fill("#f-password_again", "first-password-2")
    page.click("#add")
    page.wait_for_selector("#e-password_again")
    assert page.input_value("#f-account") == account  # what was typed stays
    page.fill("#f-password", "first-password-1")
    page.fill("#f-password_again", "first-password-1")
    page.click("#add")
    page.wait_for_url(re.compile(r"/accounts\?m=account_added$"))
    row = page.locator(f"tr[data-account='{account}']")
    assert row.get_attribute("data-state") == "active"
    assert axe(page) == []
    assert page.csp_violations == []
    screenshot(page, "admin-accounts")

    with fresh_tab(chromium, live_desk.url) as staff:
        _sign_in(staff, account, "first-password-1", "/counter")
        row.locator("summary").click()
        row.locator("input[name=password]").fill("second-password-1")
        row.locator("input[name=password_again]").fill("second-password-1")
        row.locator(".password-form button").click()
        page.wait_for_url(re.compile(r"m=account_password$"))
        staff.goto("/counter")
        staff.wait_for_url(re.compile(r"/signin"))  # signed out at once
        _sign_in(staff, account, "second-password-1", "/counter")

        page.locator(f"tr[data-account='{account}'] button.disable").click()
        page.wait_for_url(re.compile(r"m=account_disabled$"))
        assert page.locator(f"tr[data-account='{account}']").get_attribute("data-state") == (
            "disabled"
        )
        staff.goto("/counter")
        staff.wait_for_url(re.compile(r"/signin"))

    page.set_viewport_size(TABLET_UPRIGHT)
    page.goto("/accounts")
    assert cut_off(page) == [], cut_off(page)
