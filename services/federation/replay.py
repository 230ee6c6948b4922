"""Assertions already accepted: the owning region refuses a forwarded assertion used twice.

Each accepted assertion's ``(from_region, nonce)`` is stored in the region's database (table
``federation_assertions_seen``, migration 0021) until its ``expires_at`` plus the tolerated clock
skew, after which :func:`~services.federation.evidence.check_assertion` refuses it as expired
anyway. Remembering is one insert in its own small transaction, before the question is
answered: the primary key makes the second use of a nonce fail, whichever process or node of
the region sees it (they share the database), and a restart forgets nothing. Expired rows are
deleted now and then (at most once per ``PURGE_EVERY``), so the table holds about one row per
forwarded call of the last ``VALIDITY + MAX_SKEW`` (about a minute and a half).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Index, String, Table, delete, insert

from services.common.database import Database, duplicates_raise, metadata
from services.common.errors import Unauthenticated
from services.federation.evidence import MAX_SKEW

PURGE_EVERY = timedelta(seconds=60)

federation_assertions_seen = Table(
    "federation_assertions_seen",
    metadata,
    Column("from_region", String(6), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_federation_assertions_seen_expires", "expires_at"),
)


def _replayed() -> Unauthenticated:
    return Unauthenticated(
        "the federation assertion was already used: each forwarded call needs a fresh one",
        reason="ASSERTION_REPLAYED",
    )


class SeenAssertions:
    """The nonces of accepted assertions, until they expire."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        self._next_purge: datetime | None = None

    def remember(self, from_region: str, nonce: str, expires_at: datetime, now: datetime) -> None:
        """Record a first use; UNAUTHENTICATED (ASSERTION_REPLAYED) if the nonce was seen."""
        self._purge_if_due(now)
        t = federation_assertions_seen
        with duplicates_raise(_replayed), self._db.transaction() as conn:
            conn.execute(
                insert(t).values(
                    from_region=from_region, nonce=nonce, expires_at=expires_at + MAX_SKEW
                )
            )

    def _purge_if_due(self, now: datetime) -> None:
        with self._lock:
            if self._next_purge is not None and now < self._next_purge:
                return
            self._next_purge = now + PURGE_EVERY
        t = federation_assertions_seen
        with self._db.transaction() as conn:
            conn.execute(delete(t).where(t.c.expires_at < now))
