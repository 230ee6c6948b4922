"""Security of every response: headers on every page, CSRF on every state-changing request."""

from __future__ import annotations

import pytest

from tests.clients.web.conftest import csrf_of, sign_in

HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def _check_headers(response, *, page: bool = True) -> None:
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name
    if page:
        assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/signin", "/healthz", "/nowhere", "/", "/operator"])
def test_every_page_carries_the_security_headers_signed_out(desk_client, path) -> None:
    _check_headers(desk_client.get(path))


@pytest.mark.parametrize("path", ["/", "/counter", "/operator", "/nowhere", "/signin"])
def test_every_page_carries_the_security_headers_signed_in(desk_client, path) -> None:
    sign_in(desk_client, "handler")
    _check_headers(desk_client.get(path))


def test_static_files_are_cacheable_but_still_guarded(desk_client) -> None:
    response = desk_client.get("/static/vendor/htmx.org/htmx.min.js")
    assert response.status_code == 200
    _check_headers(response, page=False)
    assert "no-store" not in response.headers.get("cache-control", "")


def test_an_unexpected_failure_is_a_page_with_a_reference_and_the_headers(
    desk_client, backend
) -> None:
    from starlette.testclient import TestClient

    client = TestClient(desk_client.app, raise_server_exceptions=False, follow_redirects=False)
    sign_in(client, "handler")
    backend.fail = RuntimeError("boom at /secret/path")
    response = client.get("/")
    assert response.status_code == 500
    _check_headers(response)
    assert 'id="reference"' in response.text
    assert "Traceback" not in response.text and "boom" not in response.text


def test_no_page_has_inline_script_or_style(desk_client) -> None:
    for html in (desk_client.get("/signin").text, desk_client.get("/nowhere").text):
        assert "<style" not in html and " style=" not in html
        for tag in html.split("<script")[1:]:
            assert tag.lstrip().startswith("src="), tag[:80]


def test_a_post_without_a_csrf_token_is_refused(desk_client) -> None:
    desk_client.get("/signin")  # a session exists: only the token is missing
    response = desk_client.post("/signin", data={"account": "handler", "password": "x" * 12})
    assert response.status_code == 403
    assert "表单已失效" in response.text
    _check_headers(response)


def test_a_post_with_a_wrong_csrf_token_is_refused(desk_client, web_settings) -> None:
    token = csrf_of(desk_client.get("/signin").text)
    form = {"csrf_token": token[:-2] + "xx", "account": "handler", "password": "handler-password"}
    assert desk_client.post("/signin", data=form).status_code == 403


def test_a_post_without_a_session_is_refused(desk_client) -> None:
    form = {"csrf_token": "anything", "account": "handler", "password": "handler-password"}
    assert desk_client.post("/signin", data=form).status_code == 403


def test_another_sessions_token_is_refused(desk_client, web_settings, clock, backend) -> None:
    from starlette.testclient import TestClient

    from clients.web.app import create_app

    other = TestClient(create_app(web_settings, clock=clock, backend=backend))
    foreign = csrf_of(other.get("/signin").text)
    csrf_of(desk_client.get("/signin").text)
    form = {"csrf_token": foreign, "account": "handler", "password": "handler-password"}
    assert desk_client.post("/signin", data=form).status_code == 403


def test_the_header_token_serves_htmx_requests(desk_client) -> None:
    sign_in(desk_client, "handler")
    token = csrf_of(desk_client.get("/").text)
    assert desk_client.post("/signout").status_code == 403
    response = desk_client.post("/signout", headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?m=signed_out"


def test_a_multipart_form_carries_its_token_too(desk_client) -> None:
    sign_in(desk_client, "handler")
    token = csrf_of(desk_client.get("/").text)
    files = {"upload": ("a.csv", b"x,y\n", "text/csv")}
    refused = desk_client.post("/signout", data={"csrf_token": "no"}, files=files)
    assert refused.status_code == 403
    done = desk_client.post("/signout", data={"csrf_token": token}, files=files)
    assert done.status_code == 303


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_every_unsafe_method_is_checked(desk_client, method) -> None:
    sign_in(desk_client, "handler")
    assert getattr(desk_client, method)("/").status_code == 403


def test_a_foreign_origin_is_refused_even_with_the_token(desk_client) -> None:
    sign_in(desk_client, "handler")
    token = csrf_of(desk_client.get("/").text)
    headers = {"X-CSRF-Token": token, "Origin": "https://evil.example"}
    assert desk_client.post("/signout", headers=headers).status_code == 403
    same = {"X-CSRF-Token": token, "Origin": "http://testserver"}
    assert desk_client.post("/signout", headers=same).status_code == 303


def test_an_oversized_body_is_refused(desk_client, web_settings, clock, backend) -> None:
    from starlette.testclient import TestClient

    from clients.web.app import create_app

    small = web_settings.with_overrides(max_body_bytes=1000)
    client = TestClient(create_app(small, clock=clock, backend=backend))
    token = csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"csrf_token": token, "pad": "x" * 5000})
    assert response.status_code == 413
