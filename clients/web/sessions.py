"""Server-side sessions: a random id in the cookie, the rest in the desk database.

The cookie carries 256 random bits (``secrets.token_urlsafe(32)``); the table stores only
their SHA-256, so a copy of the database opens no session. Each session has a CSRF token.
A session ends when unused for ``idle_seconds`` or ``absolute_seconds`` after it began,
whichever comes first, or at sign-out. A session without an account exists only so that the
sign-in form itself carries a CSRF token; signing in replaces it with a new one (a session id
known before sign-in is worthless after it).

:class:`SessionTable` is that storage for any kind of session (holder sessions,
:mod:`clients.web.holder_sessions`, use it with their own table).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, RowMapping, Table, delete, insert, select, update

from clients.web.db import SESSIONS

__all__ = ["Clock", "Lookup", "Session", "SessionStore", "SessionTable", "session_hash"]

#: Seconds since the epoch, now (tests inject a clock they move).
Clock = Callable[[], float]
# Touch last_seen_at at most this often: a write per request would be wasted.
_TOUCH_EVERY = 15.0


def session_hash(session_id: str) -> str:
    """The SHA-256 (hex) of a session id: what a session table stores instead of the id."""
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


class SessionTable:
    """The storage shared by staff and holder sessions: one row per session in ``table``
    (``session_hash``, ``csrf_token``, ``created_at``, ``last_seen_at`` and the kind's own
    columns), keyed by the SHA-256 of the cookie's id, aged by the idle and absolute timeouts.
    ``signed_in`` names the column that is not None once someone signed in."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        table: Table,
        signed_in: str,
        *,
        idle_seconds: float,
        absolute_seconds: float,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._table = table
        self._signed_in = signed_in
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    def _insert(self, session_id: str, csrf_token: str, now: float, **values: object) -> None:
        """Store a new session's row; expired ones, idle or too old, are swept first (so
        sign-in pages fetched and abandoned do not pile up)."""
        t = self._table
        with self._engine.begin() as conn:
            conn.execute(
                delete(t).where(
                    (t.c.created_at < now - self.absolute_seconds)
                    | (t.c.last_seen_at < now - self.idle_seconds - _TOUCH_EVERY)
                )
            )
            conn.execute(
                insert(t).values(
                    session_hash=session_hash(session_id),
                    csrf_token=csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    **values,
                )
            )

    def _expired(self, created_at: float, last_seen_at: float, now: float) -> bool:
        return now - last_seen_at > self.idle_seconds or now - created_at > self.absolute_seconds

    def _row(self, session_id: str) -> tuple[RowMapping | None, bool, float]:
        """(the live session's row, False, now) with its idle clock restarted, or (None,
        whether a signed-in session just expired, now); an expired row is deleted."""
        now = self._clock()
        t = self._table
        key = session_hash(session_id)
        with self._engine.begin() as conn:
            row = conn.execute(select(t).where(t.c.session_hash == key)).first()
            if row is None:
                return None, False, now
            m = row._mapping
            if self._expired(m["created_at"], m["last_seen_at"], now):
                conn.execute(delete(t).where(t.c.session_hash == key))
                return None, m[self._signed_in] is not None, now
            if now - m["last_seen_at"] >= _TOUCH_EVERY:
                conn.execute(update(t).where(t.c.session_hash == key).values(last_seen_at=now))
        return m, False, now

    def end(self, session_id: str) -> None:
        """End a session (sign-out, or replaced at sign-in): its row is deleted."""
        with self._engine.begin() as conn:
            t = self._table
            conn.execute(delete(t).where(t.c.session_hash == session_hash(session_id)))


class SessionStore(SessionTable):
    """Creates, finds, ages and ends staff sessions (``web_sessions``)."""

    def __init__(
        self, engine: Engine, clock: Clock, *, idle_seconds: float, absolute_seconds: float
    ) -> None:
        super().__init__(
            engine,
            clock,
            SESSIONS,
            "account_id",
            idle_seconds=idle_seconds,
            absolute_seconds=absolute_seconds,
        )

    def create(self, account_id: str | None) -> Session:
        """A new session (for ``account_id``, or anonymous)."""
        now = self._clock()
        session = Session(
            secrets.token_urlsafe(32), account_id, secrets.token_urlsafe(32), now, now
        )
        self._insert(session.session_id, session.csrf_token, now, account_id=account_id)
        return session

    def find(self, session_id: str) -> Lookup:
        """The live session with this id (its idle clock restarted), or why there is none."""
        m, expired, now = self._row(session_id)
        if m is None:
            return Lookup(None, expired=expired)
        return Lookup(Session(session_id, m["account_id"], m["csrf_token"], m["created_at"], now))

    def end_all_of(self, account_id: str) -> int:
        """End every session of an account (it was disabled); how many there were."""
        with self._engine.begin() as conn:
            done = conn.execute(delete(SESSIONS).where(SESSIONS.c.account_id == account_id))
        return int(done.rowcount)
