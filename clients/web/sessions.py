"""Server-side sessions: a random id in the cookie, the rest in the desk database.

The cookie carries 256 random bits (``secrets.token_urlsafe(32)``); the table stores only
their SHA-256, so a copy of the database opens no session. Each session has a CSRF token.
A session ends when unused for ``idle_seconds`` or ``absolute_seconds`` after it began,
whichever comes first, or at sign-out. A session without an account exists only so that the
sign-in form itself carries a CSRF token; signing in replaces it with a new one (a session id
known before sign-in is worthless after it).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update

from clients.web.db import SESSIONS

__all__ = ["Clock", "Lookup", "Session", "SessionStore"]

#: Seconds since the epoch, now (tests inject a clock they move).
Clock = Callable[[], float]
# Touch last_seen_at at most this often: a write per request would be wasted.
_TOUCH_EVERY = 15.0


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """One browser's session: ``session_id`` is the cookie's value (never stored)."""

    session_id: str
    account_id: str | None
    csrf_token: str
    created_at: float
    last_seen_at: float


@dataclass(frozen=True)
class Lookup:
    """What a cookie led to: a live session, or why there is none (``expired``)."""

    session: Session | None
    expired: bool = False


class SessionStore:
    """Creates, finds, ages and ends sessions."""

    def __init__(
        self, engine: Engine, clock: Clock, *, idle_seconds: float, absolute_seconds: float
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    def create(self, account_id: str | None) -> Session:
        """A new session (for ``account_id``, or anonymous); expired ones, idle or too old,
        are swept first (so sign-in pages fetched and abandoned do not pile up)."""
        now = self._clock()
        session = Session(
            secrets.token_urlsafe(32), account_id, secrets.token_urlsafe(32), now, now
        )
        with self._engine.begin() as conn:
            conn.execute(
                delete(SESSIONS).where(
                    (SESSIONS.c.created_at < now - self.absolute_seconds)
                    | (SESSIONS.c.last_seen_at < now - self.idle_seconds - _TOUCH_EVERY)
                )
            )
            conn.execute(
                insert(SESSIONS).values(
                    session_hash=_hash(session.session_id),
                    account_id=account_id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return session

    def _expired(self, created_at: float, last_seen_at: float, now: float) -> bool:
        return now - last_seen_at > self.idle_seconds or now - created_at > self.absolute_seconds

    def find(self, session_id: str) -> Lookup:
        """The live session with this id (its idle clock restarted), or why there is none."""
        now = self._clock()
        key = _hash(session_id)
        with self._engine.begin() as conn:
            row = conn.execute(select(SESSIONS).where(SESSIONS.c.session_hash == key)).first()
            if row is None:
                return Lookup(None)
            m = row._mapping
            if self._expired(m["created_at"], m["last_seen_at"], now):
                conn.execute(delete(SESSIONS).where(SESSIONS.c.session_hash == key))
                return Lookup(None, expired=m["account_id"] is not None)
            if now - m["last_seen_at"] >= _TOUCH_EVERY:
                conn.execute(
                    update(SESSIONS).where(SESSIONS.c.session_hash == key).values(last_seen_at=now)
                )
        return Lookup(Session(session_id, m["account_id"], m["csrf_token"], m["created_at"], now))

    def end(self, session_id: str) -> None:
        """End a session (sign-out, or replaced at sign-in)."""
        with self._engine.begin() as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.session_hash == _hash(session_id)))

    def end_all_of(self, account_id: str) -> int:
        """End every session of an account (it was disabled); how many there were."""
        with self._engine.begin() as conn:
            done = conn.execute(delete(SESSIONS).where(SESSIONS.c.account_id == account_id))
        return int(done.rowcount)
