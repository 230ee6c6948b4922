"""Sessions: the cookie, a new id at sign-in, idle and absolute expiry, sign-out."""

from __future__ import annotations

from starlette.testclient import TestClient

from clients.web.app import create_app
from tests.clients.web.conftest import csrf_of, sign_in


def test_the_cookie_is_httponly_strict_and_not_secure_over_plain_http(desk_client) -> None:
    response = sign_in(desk_client, "handler")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("yihao-session=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie


def test_the_cookie_is_secure_and_host_bound_when_tls_is_declared(
    web_settings, clock, backend
) -> None:
    app = create_app(web_settings.with_overrides(secure_cookies=True), clock=clock, backend=backend)
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    cookie = sign_in(client, "handler").headers["set-cookie"]
    assert cookie.startswith("__Host-yihao-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie


def test_signing_in_gives_a_new_session_id(desk_client) -> None:
    desk_client.get("/signin")
    before = desk_client.cookies["yihao-session"]
    sign_in(desk_client, "handler")
    after = desk_client.cookies["yihao-session"]
    assert after != before
    desk_client.cookies.clear()
    desk_client.cookies.set("yihao-session", before)  # the pre-sign-in id opens nothing
    assert desk_client.get("/").status_code == 303


def test_the_session_id_is_not_stored_in_the_clear(desk_client) -> None:
    sign_in(desk_client, "handler")
    session_id = desk_client.cookies["yihao-session"]
    engine = desk_client.app.state.desk.engine
    with engine.connect() as conn:
        stored = [row[0] for row in conn.exec_driver_sql("SELECT session_hash FROM web_sessions")]
    assert session_id not in stored and len(stored) == 1


def test_an_idle_session_expires(desk_client, clock) -> None:
    sign_in(desk_client, "handler")
    clock.advance(590)
    assert desk_client.get("/").status_code == 200  # used: the idle clock restarts
    clock.advance(590)
    assert desk_client.get("/").status_code == 200
    clock.advance(601)
    response = desk_client.get("/counter")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?m=expired&next=/counter"
    assert "会话已过期" in desk_client.get(response.headers["location"]).text


def test_a_busy_session_still_ends_at_the_absolute_limit(desk_client, clock) -> None:
    sign_in(desk_client, "handler")
    for _ in range(6):
        clock.advance(590)
        assert desk_client.get("/").status_code == 200
    clock.advance(590)  # 4130 s after sign-in, never idle 10 minutes
    assert desk_client.get("/").status_code == 303


def test_sign_out_ends_the_session_for_good(desk_client) -> None:
    sign_in(desk_client, "handler")
    session_id = desk_client.cookies["yihao-session"]
    token = csrf_of(desk_client.get("/").text)
    response = desk_client.post("/signout", data={"csrf_token": token})
    assert response.status_code == 303
    assert 'yihao-session=""' in response.headers["set-cookie"]
    desk_client.cookies.clear()
    desk_client.cookies.set("yihao-session", session_id)  # replaying the old cookie
    assert desk_client.get("/").status_code == 303


def test_disabling_an_account_ends_its_session_at_the_next_request(desk_client) -> None:
    sign_in(desk_client, "operator")
    assert desk_client.get("/").status_code == 200
    desk_client.app.state.desk.accounts.set_disabled("operator")
    assert desk_client.get("/").status_code == 303


def test_after_sign_in_the_page_asked_for_opens(desk_client) -> None:
    page = desk_client.get("/signin?next=/operator")
    form = {
        "csrf_token": csrf_of(page.text),
        "account": "operator",
        "password": "operator-password",
        "next": "/operator",
    }
    assert desk_client.post("/signin", data=form).headers["location"] == "/operator"


def test_next_never_leaves_the_desk(desk_client) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        page = desk_client.get("/signin")
        form = {
            "csrf_token": csrf_of(page.text),
            "account": "operator",
            "password": "operator-password",
            "next": target,
        }
        assert desk_client.post("/signin", data=form).headers["location"] == "/"
        desk_client.cookies.clear()


def test_abandoned_sign_in_pages_do_not_pile_up(desk_client, clock) -> None:
    for _ in range(3):
        desk_client.cookies.clear()
        desk_client.get("/signin")  # each a new pre-sign-in session
    engine = desk_client.app.state.desk.engine

    def count() -> int:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM web_sessions").scalar())

    assert count() == 3
    clock.advance(600 + 16)
    desk_client.cookies.clear()
    desk_client.get("/signin")
    assert count() == 1
