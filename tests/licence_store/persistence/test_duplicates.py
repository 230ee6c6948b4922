"""Integrity errors are translated once, in the repositories, into the domain's errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.database import Database
from services.common.errors import AlreadyExists
from services.common.migrate import upgrade
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence.repository import IdempotencyRecord

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_an_idempotency_key_taken_concurrently_is_already_exists(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    record = IdempotencyRecord("IssueLicence", "f" * 64, "S1")
    with db.transaction() as conn:
        repo.put_idempotency(conn, "11350100518190937A", [("key-00001", record)], AT)
    with pytest.raises(AlreadyExists) as caught, db.transaction() as conn:
        repo.put_idempotency(conn, "11350100518190937A", [("key-00001", record)], AT)
    assert caught.value.reason == "IDEMPOTENCY_KEY_TAKEN"
    with db.read() as conn:  # the first is kept, nothing half-written
        assert repo.get_idempotency(conn, "11350100518190937A", "key-00001") == record
    db.dispose()
