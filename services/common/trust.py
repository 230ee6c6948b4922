"""How fast every process learns that trust was withdrawn: revoked certificates, compromised
or rotated keys, changed roles.

Each process caches the catalogue (departments, roles, the certificate revocation list) and
departments' public keys, so that a call does not read them from the database. A writer that
withdraws trust changes the *trust generation* — a mark in the database, set to a fresh random
token in the same transaction as the change — and every process compares the mark with the
one it last saw at most every :data:`POLL_SECONDS` before it trusts its caches; on a change it
drops them and reads again. So a revocation or a compromise is in force on every process
sharing the database within ``POLL_SECONDS`` plus one read (the documented bound is 1 s), on
PostgreSQL and SQLite alike, with or without Redis.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from services.common.database import Database
from services.common.marks import get_mark, set_mark

#: The mark holding the current trust generation.
MARK = "trust_generation"
#: How often a process compares its trust generation with the database's, at most.
POLL_SECONDS = 0.25
#: The bound stated in the docs: a revocation is in force on every process within this.
BOUND_SECONDS = 1.0

_UNSEEN = object()


def withdraw(conn: Connection, at: datetime) -> None:
    """Record, in the caller's transaction, that trust was withdrawn (a new generation)."""
    set_mark(conn, MARK, secrets.token_hex(8), at)


class TrustWatch:
    """One process's view of the trust generation; drops the caches registered with
    :meth:`on_change` when it moves."""

    def __init__(self, db: Database, poll: float = POLL_SECONDS) -> None:
        self._db = db
        self._poll = poll
        self._listeners: list[Callable[[], None]] = []
        self._seen: object = _UNSEEN
        self._checked = -1e9
        self._lock = threading.Lock()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (a cache's invalidate) whenever the generation moves."""
        self._listeners.append(listener)

    def check(self) -> None:
        """Compare with the database if the last look is older than the poll interval (one
        thread looks; the others go on meanwhile)."""
        if time.monotonic() - self._checked < self._poll:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() - self._checked < self._poll:
                return
            with self._db.read() as conn:
                current = get_mark(conn, MARK)
            self._checked = time.monotonic()
            if current != self._seen:
                self._seen = current
                for listener in self._listeners:
                    listener()
        finally:
            self._lock.release()
