"""Holder sessions: apart from staff sessions, under ``/me`` only.

A holder's session has its own cookie (``yihao-holder``, ``Path=/me``, HttpOnly,
SameSite=Strict, Secure under TLS), its own store and its own CSRF token. Under ``/me``,
:class:`HolderSessionMiddleware` replaces what the staff session middleware found: the staff
account is not seen there (staff cannot reach holder pages), and the holder cookie is never
sent elsewhere (a holder reaches no staff page). The CSRF middleware then checks the holder
session's token on every POST under ``/me``.

Sessions are kept in the desk database (``web_holder_sessions``) by the staff sessions' own
code (:class:`clients.web.sessions.SessionTable`): a desk restart keeps holders signed in, and
several desk processes on one database share them. The cookie carries 256 random bits; the
table stores only their SHA-256. The holder's ID number (needed on every call the page makes
through the portal) is stored sealed (AES-256-GCM) under a key derived from the cookie's id,
which the desk does not keep: a copy of the database, like a copy of its logs, gives no ID
number. Idle and absolute timeouts are those of staff sessions, at most 15 minutes idle and
2 hours in all; sign-out deletes the row.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from clients.web.db import HOLDER_SESSIONS
from clients.web.sessions import Clock, SessionTable, session_hash

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
    actor: str = ""  # an organisation's session: the representative acting for it (ID number)
    account_id: None = None  # never a staff account


_SEAL_INFO = b"yihao web holder session: holder number"


def _key(session_id: str) -> AESGCM:
    """The sealing key: from the cookie's id (not stored), independent of its stored hash."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO)
    return AESGCM(hkdf.derive(session_id.encode()))


def seal(session_id: str, holder_number: str) -> str:
    """``holder_number`` sealed for the session ``session_id`` (bound to its row)."""
    nonce = os.urandom(12)
    sealed = _key(session_id).encrypt(
        nonce, holder_number.encode(), session_hash(session_id).encode()
    )
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(session_id: str, sealed: str) -> str:
    """The ID number :func:`seal` sealed for this session (InvalidTag for another one)."""
    raw = base64.urlsafe_b64decode(sealed.encode())
    opened = _key(session_id).decrypt(raw[:12], raw[12:], session_hash(session_id).encode())
    return opened.decode()


class HolderSessionStore(SessionTable):
    """Holder sessions in the desk database (see the module's docstring)."""

    def __init__(
        self, engine: Engine, clock: Clock, *, idle_seconds: float, absolute_seconds: float
    ) -> None:
        super().__init__(
            engine,
            clock,
            HOLDER_SESSIONS,
            "holder_sealed",
            idle_seconds=min(idle_seconds, MAX_IDLE),
            absolute_seconds=min(absolute_seconds, MAX_ABSOLUTE),
        )

    def create(self, holder_number: str | None, via: str = "", actor: str = "") -> HolderSession:
        """A new session (signed in when ``holder_number`` is given; ``actor``: the person
        acting for an organisation); old ones are swept. Both numbers are sealed together."""
        now = self._clock()
        session = HolderSession(
            secrets.token_urlsafe(32),
            holder_number,
            secrets.token_urlsafe(32),
            now,
            now,
            via,
            actor,
        )
        who = f"{holder_number} {actor}" if actor else holder_number
        sealed = None if who is None else seal(session.session_id, who)
        self._insert(session.session_id, session.csrf_token, now, holder_sealed=sealed, via=via)
        return session

    def find(self, session_id: str) -> tuple[HolderSession | None, bool]:
        """(the live session, False), or (None, whether a signed-in one just expired)."""
        m, expired, now = self._row(session_id)
        if m is None:
            return None, expired
        sealed = m["holder_sealed"]
        try:
            who = None if sealed is None else unseal(session_id, sealed)
        except (InvalidTag, ValueError):  # the row was altered: no session, and it goes
            self.end(session_id)
            return None, False
        number, _, actor = who.partition(" ") if who is not None else (None, "", "")
        csrf, created = m["csrf_token"], m["created_at"]
        return HolderSession(session_id, number, csrf, created, now, m["via"], actor), False


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
