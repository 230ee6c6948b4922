"""The desk database on PostgreSQL (several desk processes share sessions and lockouts there)."""

from __future__ import annotations

import os

import pytest
from starlette.testclient import TestClient

from clients.web.accounts import AccountStore
from clients.web.app import create_app
from clients.web.db import open_database
from tests.clients.web.conftest import FAST_HASHER, FakeBackend, FakeClock, csrf_of, sign_in

pytestmark = pytest.mark.postgres


def test_accounts_sessions_and_lockout_on_postgresql(postgres, web_settings) -> None:
    url = postgres.create_database(f"web_{os.getpid()}")
    AccountStore(open_database(url), FAST_HASHER).add(
        "pg.user", "甲", "hall", ["handler"], "pg-password-1", now=0
    )
    clock = FakeClock()
    app = create_app(
        web_settings.with_overrides(database_url=url), clock=clock, backend=FakeBackend()
    )  # type: ignore[arg-type]
    client = TestClient(app, follow_redirects=False)
    assert sign_in(client, "pg.user", "pg-password-1").status_code == 303
    assert client.get("/").status_code == 200
    clock.advance(601)
    assert client.get("/").status_code == 303  # idle expiry
    for _ in range(3):
        client.cookies.clear()
        sign_in(client, "pg.user", "wrong-password")
    assert sign_in(client, "pg.user", "pg-password-1").status_code == 429
    token = csrf_of(client.get("/signin").text)
    assert token
    app.state.desk.close()
