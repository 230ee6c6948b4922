"""Holder sessions: apart from staff sessions, under ``/me`` only.

A holder's session has its own cookie (``yihao-holder``, ``Path=/me``, HttpOnly,
SameSite=Strict, Secure under TLS), its own store and its own CSRF token. Under ``/me``,
:class:`HolderSessionMiddleware` replaces what the staff session middleware found: the staff
account is not seen there (staff cannot reach holder pages), and the holder cookie is never
sent elsewhere (a holder reaches no staff page). The CSRF middleware then checks the holder
session's token on every POST under ``/me``.

Sessions are kept in the desk process's memory, with the holder's ID number (needed on every
call the page makes through the portal), never on disk: a restart of the desk signs holders
out. The cookie carries 256 random bits; the store is keyed by their SHA-256. Idle and absolute
timeouts are those of staff sessions, at most 15 minutes idle and 2 hours in all.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from clients.web.sessions import Clock

__all__ = [
    "HOLDER_PATH",
    "HolderSession",
    "HolderSessionMiddleware",
    "HolderSessionStore",
    "is_holder_path",
]

#: Where the holder's pages live (and the only path the holder cookie is sent to).
HOLDER_PATH = "/me"
MAX_IDLE = 15 * 60.0
MAX_ABSOLUTE = 2 * 3600.0


def is_holder_path(path: str) -> bool:
    """Whether ``path`` is one of the holder's pages."""
    return path == HOLDER_PATH or path.startswith(HOLDER_PATH + "/")


@dataclass(frozen=True)
class HolderSession:
    """A browser's holder session; ``holder_number`` None until signed in (the sign-in form's
    CSRF token needs a session first). ``via``: ``assertion`` or ``dev``."""

    session_id: str
    holder_number: str | None
    csrf_token: str
    created_at: float
    last_seen_at: float
    via: str = ""
    account_id: None = None  # never a staff account


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class HolderSessionStore:
    """Holder sessions in memory (see the module's docstring)."""

    def __init__(self, clock: Clock, *, idle_seconds: float, absolute_seconds: float) -> None:
        self.clock = clock
        self.idle_seconds = min(idle_seconds, MAX_IDLE)
        self.absolute_seconds = min(absolute_seconds, MAX_ABSOLUTE)
        self._sessions: dict[str, HolderSession] = {}
        self._lock = threading.Lock()

    def create(self, holder_number: str | None, via: str = "") -> HolderSession:
        """A new session (signed in when ``holder_number`` is given); old ones are swept."""
        now = self.clock()
        session = HolderSession(
            secrets.token_urlsafe(32), holder_number, secrets.token_urlsafe(32), now, now, via
        )
        with self._lock:
            for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
                del self._sessions[key]
            self._sessions[_hash(session.session_id)] = session
        return session

    def _expired(self, s: HolderSession, now: float) -> bool:
        return (
            now - s.last_seen_at > self.idle_seconds or now - s.created_at > self.absolute_seconds
        )

    def find(self, session_id: str) -> tuple[HolderSession | None, bool]:
        """(the live session, False), or (None, whether a signed-in one just expired)."""
        now = self.clock()
        key = _hash(session_id)
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return None, False
            if self._expired(found, now):
                del self._sessions[key]
                return None, found.holder_number is not None
            found = self._sessions[key] = replace(found, last_seen_at=now)
        return found, False

    def end(self, session_id: str) -> None:
        """End a session (sign-out, or replaced at sign-in)."""
        with self._lock:
            self._sessions.pop(_hash(session_id), None)


class HolderSessionMiddleware:
    """Under ``/me``: the holder session in ``request.state.session`` and ``.holder``, the
    staff account hidden (``request.state.account`` None). Elsewhere ``.holder`` is None."""

    def __init__(self, app: ASGIApp, *, store: HolderSessionStore, cookie: str) -> None:
        self.app = app
        self.store = store
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state: dict[str, Any] = scope.setdefault("state", {})
            if is_holder_path(scope["path"]):
                session_id = HTTPConnection(scope).cookies.get(self.cookie)
                session, expired = self.store.find(session_id) if session_id else (None, False)
                state.update(
                    session=session,
                    account=None,
                    session_expired=expired,
                    holder=session if session and session.holder_number else None,
                )
            else:
                state["holder"] = None
        await self.app(scope, receive, send)
