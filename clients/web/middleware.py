"""Sessions and CSRF, handled once for every request (ASGI middleware).

:class:`SessionMiddleware` turns the session cookie into ``request.state.session`` and
``request.state.account`` (None when signed out; ``request.state.session_expired`` says the
cookie's session timed out). :class:`CsrfMiddleware` refuses every POST, PUT, PATCH and
DELETE whose token — the ``X-CSRF-Token`` header (htmx sends it, from ``hx-headers`` on
``<body>``) or the ``csrf_token`` form field — is not the session's, and any whose ``Origin``
names another site. The body is read here (up to a limit) and handed on unchanged.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clients.web.accounts import AccountStore
from clients.web.sessions import Session, SessionStore

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "CsrfMiddleware", "Refuse", "SessionMiddleware"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Renders a refusal page: (request, HTTP status, message key) -> response.
Refuse = Callable[[Request, int, str], Response]


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


class SessionMiddleware:
    """Loads the session named by the cookie, and its account when one is signed in."""

    def __init__(
        self, app: ASGIApp, *, sessions: SessionStore, accounts: AccountStore, cookie: str
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.accounts = accounts
        self.cookie = cookie

    def _load(self, session_id: str | None) -> tuple[Session | None, Any, bool]:
        if not session_id:
            return None, None, False
        lookup = self.sessions.find(session_id)
        session = lookup.session
        if session is None or session.account_id is None:
            return session, None, lookup.expired
        account = self.accounts.get(session.account_id)
        if account is None or account.disabled:
            self.sessions.end(session_id)  # disabled since sign-in: out at once
            return None, None, True
        return session, account, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            session_id = HTTPConnection(scope).cookies.get(self.cookie)
            session, account, expired = await run_in_threadpool(self._load, session_id)
            state = _state(scope)
            state.update(session=session, account=account, session_expired=expired)
        await self.app(scope, receive, send)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it is over ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _form_token(scope: Scope, body: bytes, receive: Receive) -> str | None:
    content_type = Request(scope).headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        request = Request(scope, _replay(body, receive))
        async with request.form() as form:
            value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def _foreign_origin(request: Request) -> bool:
    """Whether ``Origin`` names another site (absent or "null" is left to the token)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    return origin != f"{request.url.scheme}://{request.headers.get('host', '')}"


class CsrfMiddleware:
    """Refuses state-changing requests without the session's CSRF token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        refuse: Refuse,
        max_body_bytes: int,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.refuse = refuse
        self.max_body_bytes = max_body_bytes
        #: Paths whose POST proves itself instead (a signed, single-use sign-in assertion).
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            await self.refuse(request, 413, "too_large")(scope, receive, send)
            return
        session: Session | None = _state(scope).get("session")
        token = request.headers.get(CSRF_HEADER) or await _form_token(scope, body, receive)
        good = (
            session is not None
            and token is not None
            and hmac.compare_digest(token.encode(), session.csrf_token.encode())
        )
        if not good or _foreign_origin(request):
            await self.refuse(request, 403, "csrf")(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)
