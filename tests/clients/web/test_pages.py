"""Role checks, the dashboard, error pages, and a service that is down."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from clients.web.app import create_app
from clients.web.backend import Backend
from tests.clients.web.conftest import sign_in
from testsupport.processes import free_port
from yihao_shared.errors import DeadlineExceeded, PermissionDenied, Unavailable

SCREENS = {"/counter": "handler", "/supervision": "supervisor", "/operator": "operator"}


@pytest.mark.parametrize("account", ["handler", "operator", "supervisor", "admin"])
def test_each_role_opens_its_screens_only(desk_client, account) -> None:
    sign_in(desk_client, account)
    for path, role in SCREENS.items():
        expected = 200 if role == account else 403
        assert desk_client.get(path).status_code == expected, (account, path)
    assert desk_client.get("/accounts").status_code == (200 if account == "admin" else 403)


def test_a_forbidden_screen_says_so_and_is_not_in_the_navigation(desk_client) -> None:
    sign_in(desk_client, "handler")
    response = desk_client.get("/operator")
    assert response.status_code == 403 and "无权访问" in response.text
    dashboard = desk_client.get("/").text
    assert 'href="/counter"' in dashboard and 'href="/operator"' not in dashboard


def test_signed_out_every_screen_leads_to_sign_in_and_back(desk_client) -> None:
    for path in ("/", *SCREENS, "/accounts"):
        response = desk_client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/signin?m=signin_required&next={path}"


def test_the_dashboard_asks_the_services_as_the_accounts_department(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    response = desk_client.get("/")
    assert response.status_code == 200
    assert backend.calls == [("get_department", "1135010052601815X2")]  # market's code
    assert "1135010052601815X2" in response.text


def test_the_account_list_shows_accounts_without_passwords(desk_client) -> None:
    sign_in(desk_client, "admin")
    text = desk_client.get("/accounts").text
    assert "窗口甲" in text and "停用" in text and "argon2" not in text


@pytest.mark.parametrize("error", [Unavailable("down"), DeadlineExceeded("slow")])
def test_a_service_down_or_slow_is_a_503_page(desk_client, backend, error) -> None:
    sign_in(desk_client, "handler")
    backend.fail = error
    response = desk_client.get("/")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "服务暂时不可用" in response.text and "Traceback" not in response.text
    backend.fail = None
    assert desk_client.get("/").status_code == 200  # and the desk works when it returns


def test_a_refusal_by_the_services_is_a_403_page(desk_client, backend) -> None:
    sign_in(desk_client, "handler")
    backend.fail = PermissionDenied("no")
    assert desk_client.get("/").status_code == 403


def test_a_real_backend_with_no_server_gives_the_503_page(web_settings, clock, tmp_path) -> None:
    from testsupport.stack import dev_pki

    dev_pki(tmp_path / "pki")
    backend = Backend(f"127.0.0.1:{free_port()}", tmp_path, ("hall",), timeout=2.0)
    app = create_app(web_settings, clock=clock, backend=backend)
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "handler")
    response = client.get("/")
    assert response.status_code == 503 and "服务暂时不可用" in response.text
    app.state.desk.close()


def test_a_department_the_desk_does_not_host_is_refused(web_settings, clock, tmp_path) -> None:
    backend = Backend("127.0.0.1:1", tmp_path, ("market",))
    app = create_app(web_settings, clock=clock, backend=backend)
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "handler")  # at hall, which this desk does not host
    assert client.get("/").status_code == 403
    app.state.desk.close()


def test_404_and_405_pages(desk_client) -> None:
    missing = desk_client.get("/no/such/page")
    assert missing.status_code == 404 and "页面不存在" in missing.text
    wrong = desk_client.get("/signout")
    assert wrong.status_code == 405 and "不支持的操作" in wrong.text


def test_the_liveness_probe_needs_no_sign_in(desk_client) -> None:
    response = desk_client.get("/healthz")
    assert response.status_code == 200 and response.text == "ok"


def test_a_role_the_department_lacks_opens_nothing(desk_client, backend) -> None:
    backend.denied = {"handler"}
    sign_in(desk_client, "handler")
    response = desk_client.get("/counter")
    assert response.status_code == 403 and "部门无此职能" in response.text
    assert 'class="screen" href="/counter"' not in desk_client.get("/").text
