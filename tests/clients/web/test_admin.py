"""Staff accounts in the browser (clients/web/admin.py): an administrator adds an account
(each bad field named beside it; a form posted twice adds once), disables and enables one
(disabling ends its sessions at once; not one's own), sets a password (the old one stops
working, the account's sessions end), lifts a sign-in lock. Only administrators, only with
the CSRF token; the log names the change and who made it, never a password."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from clients.web.signin import account_ref
from tests.clients.web.conftest import csrf_of, sign_in

GOOD = {
    "account": "wang.wu",
    "display_name": "王五",
    "department": "hall",
    "roles": ["handler"],
    "password": "wang-wu-password",
    "password_again": "wang-wu-password",
}


def _add_form(client: TestClient, **changes: Any) -> dict[str, Any]:
    page = client.get("/accounts").text
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page)
    assert key is not None
    return {"csrf_token": csrf_of(page), "idempotency_key": key.group(1), **GOOD, **changes}


def _act(client: TestClient, action: str, account: str, **more: str) -> Any:
    page = client.get("/accounts").text
    form = {"csrf_token": csrf_of(page), "account": account, **more}
    return client.post(f"/accounts/{action}", data=form)


def _second_browser(client: TestClient) -> TestClient:
    return TestClient(client.app, follow_redirects=False)


def test_an_admin_adds_an_account_that_then_signs_in(desk_client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="yihao.web.admin")
    sign_in(desk_client, "admin")
    form = _add_form(desk_client)
    first = desk_client.post("/accounts", data=form)
    second = desk_client.post("/accounts", data=form)  # the same form again: added once
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == "/accounts?m=account_added"
    page = desk_client.get(first.headers["location"]).text
    assert 'data-account="wang.wu"' in page and "账号已创建" in page
    assert '"change": "added"' in caplog.text
    assert f'"by": "{account_ref("admin")}"' in caplog.text
    assert f'"account": "{account_ref("wang.wu")}"' in caplog.text
    assert "wang-wu-password" not in caplog.text and "wang.wu" not in caplog.text
    with _second_browser(desk_client) as other:
        signed = sign_in(other, "wang.wu", "wang-wu-password")
        assert signed.status_code == 303 and other.get("/counter").status_code == 200


def test_each_bad_field_is_named_beside_it(desk_client, backend) -> None:
    sign_in(desk_client, "admin")
    backend.not_hosted.add("1135010052601815X2")  # market: no certificate on this desk
    bad = _add_form(
        desk_client,
        account="Not An Id",
        display_name="",
        roles=[],
        password="short",
        password_again="different",
    )
    answer = desk_client.post("/accounts", data=bad)
    assert answer.status_code == 400
    for name in ("account", "display_name", "roles", "password", "password_again"):
        assert f'id="e-{name}"' in answer.text, name
    assert 'value="Not An Id"' in answer.text  # what was typed stays
    elsewhere = desk_client.post("/accounts", data=_add_form(desk_client, department="market"))
    assert elsewhere.status_code == 400 and "no client certificate" in elsewhere.text
    taken = desk_client.post("/accounts", data=_add_form(desk_client, account="handler"))
    assert taken.status_code == 400 and re.search(r'id="e-account">[^<]*已存在', taken.text)
    assert 'data-account="wang.wu"' not in desk_client.get("/accounts").text


def test_disabling_ends_the_accounts_sessions_and_enabling_lets_it_back(desk_client) -> None:
    with _second_browser(desk_client) as handler:
        sign_in(handler, "handler")
        assert handler.get("/counter").status_code == 200
        sign_in(desk_client, "admin")
        done = _act(desk_client, "disable", "handler")
        assert done.headers["location"] == "/accounts?m=account_disabled"
        assert handler.get("/counter").status_code == 303  # out at once
        assert sign_in(handler, "handler").status_code != 303
        assert _act(desk_client, "enable", "handler").status_code == 303
        assert sign_in(handler, "handler").status_code == 303


def test_an_admin_cannot_disable_their_own_account(desk_client) -> None:
    sign_in(desk_client, "admin")
    refused = _act(desk_client, "disable", "admin")
    assert refused.status_code == 400 and 'id="problem"' in refused.text
    assert desk_client.get("/accounts").status_code == 200  # still signed in, still admin


def test_a_new_password_replaces_the_old_and_ends_the_sessions(desk_client) -> None:
    with _second_browser(desk_client) as handler:
        sign_in(handler, "handler")
        sign_in(desk_client, "admin")
        differ = _act(desk_client, "password", "handler", password="a" * 12, password_again="b")
        assert differ.status_code == 400
        short = _act(desk_client, "password", "handler", password="short", password_again="short")
        assert short.status_code == 400 and "至少 10" in short.text
        new = "handler-new-password"
        done = _act(desk_client, "password", "handler", password=new, password_again=new)
        assert done.headers["location"] == "/accounts?m=account_password"
        assert handler.get("/counter").status_code == 303
        assert sign_in(handler, "handler").status_code != 303  # the old password
        assert sign_in(handler, "handler", new).status_code == 303


def test_a_locked_account_is_unlocked(desk_client) -> None:
    with _second_browser(desk_client) as handler:
        for _ in range(3):  # lockout_failures=3
            sign_in(handler, "handler", "not-the-password")
        assert sign_in(handler, "handler").status_code != 303  # locked
        sign_in(desk_client, "admin")
        page = desk_client.get("/accounts").text
        row = page.split('data-account="handler"')[1].split("</tr>")[0]
        assert "locked" in row and 'action="/accounts/unlock"' in row
        assert _act(desk_client, "unlock", "handler").status_code == 303
        assert sign_in(handler, "handler").status_code == 303


@pytest.mark.parametrize("account", ["handler", "supervisor", "operator"])
def test_only_administrators_manage_accounts(desk_client, account) -> None:
    sign_in(desk_client, account)
    page = desk_client.get("/").text
    form = {"csrf_token": csrf_of(page), "account": "handler"}
    assert desk_client.post("/accounts/disable", data=form).status_code == 403
    assert (
        desk_client.post("/accounts", data={**GOOD, "csrf_token": csrf_of(page)}).status_code == 403
    )


def test_every_change_needs_the_csrf_token(desk_client) -> None:
    sign_in(desk_client, "admin")
    for path in ("/accounts", "/accounts/disable", "/accounts/password"):
        assert desk_client.post(path, data={**GOOD, "account": "handler"}).status_code == 403
    assert (
        'data-state="active"'
        in desk_client.get("/accounts").text.split('data-account="handler"')[1][:40]
    )


def test_an_unknown_account_or_action_is_not_found(desk_client) -> None:
    sign_in(desk_client, "admin")
    assert _act(desk_client, "disable", "nobody").status_code == 404
    assert _act(desk_client, "delete", "handler").status_code == 404
