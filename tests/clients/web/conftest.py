"""Fixtures of the web desk's tests: a desk on a fresh database with a clock the test moves,
a fake way to the services for the unit tests, and the real stack for the browser tests
(:mod:`testsupport.browser`)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from clients.web.accounts import Account, AccountStore
from clients.web.app import create_app
from clients.web.backend import DEPARTMENT_ROLE
from clients.web.config import WebSettings
from clients.web.db import open_database
from tests.clients.web.fake_operator import FakeOperator
from tests.clients.web.fake_supervision import FakeSupervision

#: (account, name, department, roles, password) every unit test's desk has.
ACCOUNTS = (
    ("handler", "窗口甲", "hall", ("handler",), "handler-password"),
    ("operator", "业务乙", "market", ("operator",), "operator-password"),
    ("registrar", "登记丁", "civil", ("operator",), "registrar-password"),
    ("supervisor", "监察丙", "supervision", ("supervisor",), "supervisor-password"),
    ("admin", "管理丁", "data", ("admin",), "admin-password"),
    ("gone", "停用戊", "hall", ("handler",), "gone-password"),
)
PASSWORDS = {a[0]: a[4] for a in ACCOUNTS}
#: Argon2id at its cheapest, for the test accounts only (a hash carries its parameters, so
#: the desk checks these as fast as they were made; the desk's own stay OWASP's).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class FakeClock:
    """Seconds since the epoch that only move when told."""

    def __init__(self, start: float = 1_796_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeDepartment:
    credit_code: str
    name: str
    roles: list[int]


@dataclass
class FakeClient:
    """Stands in for YihaoClient: answers what the pages ask, or raises ``fail``."""

    backend: FakeBackend

    def get_department(self, credit_code: str, **_: Any) -> FakeDepartment:
        if self.backend.fail is not None:
            raise self.backend.fail
        self.backend.calls.append(("get_department", credit_code))
        roles = [v for k, v in DEPARTMENT_ROLE.items() if k not in self.backend.denied]
        return FakeDepartment(credit_code, f"部门 {credit_code}", roles)

    def __getattr__(self, name: str) -> Any:
        """The calls the page helpers' fakes answer (``backend.more``), or raise ``fail``."""
        for more in self.backend.more:
            if hasattr(more, name):
                if self.backend.fail is not None:
                    raise self.backend.fail
                return getattr(more, name)
        raise AttributeError(name)


@dataclass
class FakeBackend:
    """The services as the unit tests see them; set ``fail`` to an exception to raise it."""

    fail: Exception | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)  # desk roles the department lacks
    not_hosted: set[str] = field(default_factory=set)  # departments without a certificate
    #: Fakes of the calls each screen makes (one object per screen's module).
    more: list[Any] = field(default_factory=lambda: [FakeSupervision(), FakeOperator()])

    def client(self, account: Account) -> FakeClient:
        return FakeClient(self)

    def permits(self, account: Account, role: str) -> bool:
        return role not in self.denied

    def hosts(self, department: str) -> bool:
        return department not in self.not_hosted

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A desk database with :data:`ACCOUNTS` (Argon2 hashing is slow: made once, copied)."""
    path = tmp_path_factory.mktemp("web-seed") / "web.db"
    engine = open_database(f"sqlite:///{path}")
    store = AccountStore(engine, FAST_HASHER)
    for account_id, name, dept, roles, password in ACCOUNTS:
        store.add(account_id, name, dept, roles, password, now=0.0)
    store.set_disabled("gone")
    engine.dispose()
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def web_settings(tmp_path: Path, seeded_db: Path) -> WebSettings:
    shutil.copy(seeded_db, tmp_path / "web.db")
    return WebSettings(
        var_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'web.db'}",
        idle_seconds=600,
        absolute_seconds=3600,
        lockout_failures=3,
        lockout_seconds=300,
        address_failures=8,
    )


@pytest.fixture
def desk_client(
    web_settings: WebSettings, clock: FakeClock, backend: FakeBackend
) -> Iterator[TestClient]:
    app = create_app(web_settings, clock=clock, backend=backend)  # type: ignore[arg-type]
    with TestClient(app, follow_redirects=False) as client:
        yield client
    app.state.desk.close()


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def sign_in(client: TestClient, account: str, password: str | None = None) -> Any:
    """Sign in through the form, as a browser would; returns the POST's response."""
    page = client.get("/signin")
    token = csrf_of(page.text)
    form = {"csrf_token": token, "account": account, "password": password or PASSWORDS[account]}
    return client.post("/signin", data=form)


# --- the real stack and a real browser ------------------------------------------------------

#: Accounts of the browser tests' desk (real department certificates, real services).
BROWSER_ACCOUNTS = (
    ("handler", "窗口甲", "hall", ("handler",), "handler-password"),
    ("operator", "业务乙", "market", ("operator",), "operator-password"),
    ("registrar", "登记丁", "civil", ("operator",), "registrar-password"),
    ("locky", "锁定己", "hall", ("handler",), "locky-password"),
    ("admin", "管理庚", "data", ("admin",), "admin-password"),
)


@pytest.fixture(scope="session")
def live_clock() -> Any:
    """The live desk's clock: real time plus what the tests add (the services keep real time)."""
    from testsupport.browser import ShiftedClock

    return ShiftedClock()


@pytest.fixture(scope="session")
def identity_provider(live_clock: Any) -> Iterator[Any]:
    """The holder portal's identity provider, served on ``localhost`` (another site than the
    desk's ``127.0.0.1``); ``.url`` is its sign-in address."""
    from testsupport.browser import serve_desk
    from testsupport.identity_provider import TestIdentityProvider

    provider = TestIdentityProvider(clock=live_clock)
    server = serve_desk(provider.app)
    provider.url = f"http://localhost:{server.port}/authorize"
    try:
        yield provider
    finally:
        server.stop()


@pytest.fixture(scope="session")
def live_desk(
    tmp_path_factory: pytest.TempPathFactory, live_clock: Any, identity_provider: Any
) -> Iterator[Any]:
    """The gRPC stack and a desk in front of it, shared by the browser tests."""
    from testsupport.browser import desk_stack

    var = tmp_path_factory.mktemp("desk-var")
    with desk_stack(
        var,
        BROWSER_ACCOUNTS,
        clock=live_clock,
        lockout_failures=3,
        lockout_seconds=300,
        idle_seconds=600,
        dev=True,  # the holder page's development sign-in (a code in the log)
        holder_qr_seconds=30,  # the shortest 亮证 QR life: a test waits for one to expire
        holder_idp_keys=identity_provider.write_keys(var / "idp-keys.json"),
        holder_idp_issuer=identity_provider.issuer,
        holder_idp_url=identity_provider.url,
    ) as live:
        yield live


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the whole session (skipped locally when not installed)."""
    from playwright.sync_api import sync_playwright

    from testsupport.browser import launch_chromium

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live_desk: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280×800; CSP violations are collected in
    ``page.csp_violations``."""
    from testsupport.browser import fresh_tab

    with fresh_tab(chromium, live_desk.url) as tab:
        yield tab
