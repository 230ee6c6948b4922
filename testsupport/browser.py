"""Real-browser tests of the web desk: the real stack, the desk, and Debian's Chromium.

* :func:`serve_desk` runs a desk app under uvicorn on a free loopback port, in a thread.
* :func:`desk_stack` starts the gRPC server (dev PKI, demo catalogue, SQLite) and a desk
  calling it over mutual TLS, with the given staff accounts.
* :func:`launch_chromium` starts ``/usr/bin/chromium`` headless through Playwright's Python
  package (never ``playwright install``: no browser is downloaded). Availability follows
  :mod:`testsupport.availability`: skipped without Chromium locally, failed under CI.
* :func:`screenshot` saves a page into ``docs/screenshots/`` (page tests commit the PNGs).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from clients.web.accounts import AccountStore
from clients.web.app import create_app
from clients.web.config import WebSettings
from clients.web.db import open_database
from services.common.clock import FixedClock
from testsupport import availability
from testsupport.stack import Stack, dev_pki, settings_for, start_stack

__all__ = [
    "CHROMIUM_ARGS",
    "SCREENSHOTS",
    "TABLET_UPRIGHT",
    "DeskServer",
    "DeskStack",
    "ShiftedClock",
    "cut_off",
    "desk_stack",
    "fresh_tab",
    "launch_chromium",
    "screenshot",
    "serve_desk",
]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
_SCRATCH = Path(tempfile.gettempdir()) / "yihao-screenshots"
#: Chromium as the tests run it: headless, nothing fetched from the network behind our back.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The desktop size the browser tests use unless they say otherwise.
DESKTOP = {"width": 1280, "height": 800}
#: A tablet held upright (CSS pixels), the size the desk's screens must fit.
TABLET_UPRIGHT = {"width": 820, "height": 1180}
#: (account, display name, department, roles, password)
AccountSpec = tuple[str, str, str, tuple[str, ...], str]


class DeskServer:
    """A desk app served by uvicorn on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DeskServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the desk did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def serve_desk(app: Starlette) -> DeskServer:
    """Serve ``app`` on a free loopback port until :meth:`DeskServer.stop`."""
    return DeskServer(app).start()


@dataclass
class DeskStack:
    """The gRPC stack, the desk calling it, and where the desk is."""

    stack: Stack
    desk: DeskServer

    @property
    def url(self) -> str:
        return self.desk.url

    @property
    def app(self) -> Starlette:
        return self.desk.app


class ShiftedClock:
    """The real time plus an offset a test moves forward (to expire sessions, end locks)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@contextmanager
def desk_stack(
    var_dir: Path,
    accounts: Iterable[AccountSpec],
    *,
    clock: ShiftedClock | None = None,
    services_clock: FixedClock | None = None,
    **desk_settings: Any,
) -> Iterator[DeskStack]:
    """The real stack under ``var_dir`` (dev PKI in ``var_dir/pki``) and a desk in front;
    the desk reads ``clock`` (the services keep the real time). With ``services_clock`` the
    services keep its time, and the desk too unless ``clock`` is given (a test moves it:
    deadlines pass, heads age — move it before signing in, or the session expires too)."""
    pki = dev_pki(var_dir / "pki")
    settings = settings_for(f"sqlite:///{var_dir / 'yihao.db'}", var_dir, pki)
    stack = start_stack(settings, pki, clock=services_clock)
    web_db = f"sqlite:///{var_dir / 'web.db'}"
    engine = open_database(web_db)
    store = AccountStore(engine)
    for account_id, name, department, roles, password in accounts:
        store.add(account_id, name, department, roles, password, now=time.time())
    engine.dispose()
    web_settings = WebSettings(
        var_dir=var_dir, address=stack.address, database_url=web_db, **desk_settings
    )
    desk_clock = clock or (_seconds(services_clock) if services_clock else time.time)
    app = create_app(web_settings, clock=desk_clock)
    desk = serve_desk(app)
    try:
        yield DeskStack(stack, desk)
    finally:
        desk.stop()
        app.state.desk.close()
        stack.stop()


def _seconds(clock: FixedClock) -> Callable[[], float]:
    return lambda: clock.now().timestamp()


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, through Playwright (skipped/failed when missing)."""
    binary = availability.require(availability.CHROMIUM)
    return playwright.chromium.launch(
        executable_path=str(binary), headless=True, args=CHROMIUM_ARGS
    )


@contextmanager
def fresh_tab(browser: Any, base_url: str, *, timeout_ms: float = 10_000) -> Iterator[Any]:
    """A page in a fresh context (no cookies) at :data:`DESKTOP` size, in Chinese; the
    Content-Security-Policy violations its console reports are in ``page.csp_violations``."""
    context = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.csp_violations = violations
    page.set_default_timeout(timeout_ms)
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save the page as ``<name>.png`` (full page) and return the path.

    The picture goes into ``docs/screenshots/`` only when ``YIHAO_SCREENSHOTS=1`` (to refresh
    the committed ones); otherwise into a scratch folder, so an ordinary test run leaves the
    work tree clean (the PNGs differ on every run: receipt ids, times).
    """
    folder = SCREENSHOTS if os.environ.get("YIHAO_SCREENSHOTS") == "1" else _SCRATCH
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


#: Elements sticking out of the viewport, unless inside a box that scrolls sideways (a wide
#: table's own scroll bar keeps it reachable); wholly off to the left is the skip link's way
#: of waiting, out of sight, for keyboard focus.
_CUT_OFF = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = el => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll') return true;
    }
    return false;
  };
  return [...document.querySelectorAll('body *')].filter(el => {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) return false;
    const cut = r.right > width + 1 || (r.left < -1 && r.right > 0);
    return cut && !scrolls(el);
  }).map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''));
}"""


def cut_off(page: Any) -> list[str]:
    """The page's elements cut off at the viewport's edges (``tag#id``); [] when all fit."""
    found: list[str] = page.evaluate(_CUT_OFF)
    return found
