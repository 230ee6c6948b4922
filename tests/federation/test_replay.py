"""A forwarded assertion is accepted once: its nonce is remembered in the owning region's
database (shared by its processes) until it expires, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.common.database import Database
from services.common.errors import Unauthenticated
from services.federation.evidence import MAX_SKEW
from services.federation.replay import PURGE_EVERY, SeenAssertions, federation_assertions_seen

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
NONCE = "0123456789abcdef0123456789abcdef"


def _rows(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(select(func.count()).select_from(federation_assertions_seen)).scalar_one()
        )


def test_a_nonce_is_accepted_once_per_calling_region_even_by_another_process(db, database_url):
    expires = T0 + timedelta(seconds=60)
    SeenAssertions(db).remember("31", NONCE, expires, T0)
    other = Database(database_url)  # another worker of the same region: same database
    try:
        with pytest.raises(Unauthenticated, match="already used") as refused:
            SeenAssertions(other).remember("31", NONCE, expires, T0 + timedelta(seconds=5))
        assert refused.value.reason == "ASSERTION_REPLAYED"
    finally:
        other.dispose()
    SeenAssertions(db).remember("44", NONCE, expires, T0)  # another region's nonce space
    assert _rows(db) == 2


def test_expired_nonces_are_purged_no_sooner_than_they_could_be_replayed(db):
    seen = SeenAssertions(db)
    expires = T0 + timedelta(seconds=60)
    seen.remember("31", NONCE, expires, T0)
    # still inside expiry + skew: the row stays, a replay is refused
    later = expires + MAX_SKEW - timedelta(seconds=1)
    with pytest.raises(Unauthenticated):
        SeenAssertions(db).remember("31", NONCE, later, later)
    assert _rows(db) == 1
    # past expiry + skew (and the purge interval): gone, bounded table
    after = expires + MAX_SKEW + PURGE_EVERY + timedelta(seconds=1)
    seen.remember("31", "f" * 32, after + timedelta(seconds=60), after)
    assert _rows(db) == 1
