"""Access records: the batch digest (the shared parts formatted once, the same bytes as
row_line) and the holder tag the index finds a holder's records by."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from services.common.access_log import (
    AccessRow,
    batch_digest,
    holder_tag,
    insert_rows,
    records_of,
    row_line,
)
from services.common.database import Database
from services.common.migrate import upgrade

AT = datetime(2026, 12, 4, 8, 30, 15, 123456, tzinfo=UTC)


def _rows() -> list[AccessRow]:
    later = AT + timedelta(microseconds=1)
    beijing = AT.astimezone(timezone(timedelta(hours=8)))  # the same instant, another zone
    return [
        ("a" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 1: v", AT, None),
        ("b" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 2: v", AT, None),
        ("b" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 2: v", AT, "u1"),
        ("c" * 64, "11350100MB0000000X", "verification", "审批", "C-2", "x", later, "u1"),
        ("c" * 64, "11350100MB0000000Y", "supervision", "", "", "", beijing, ""),
        ("d" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 1: v", AT, None),
    ]


def test_batch_digest_is_the_hash_of_each_row_line_in_order() -> None:
    rows = _rows()
    want = hashlib.sha256("".join(row_line(r) for r in rows).encode()).hexdigest()
    assert batch_digest(rows) == want
    assert batch_digest([(*r, "A-batch-id") for r in rows]) == want  # the stored rows' extra
    assert batch_digest(list(reversed(rows))) != want  # order is committed to


def test_every_value_changes_the_digest() -> None:
    rows = _rows()
    base = batch_digest(rows)
    for i in range(8):
        changed = list(rows)
        value = rows[2][i]
        edited = value + timedelta(seconds=1) if isinstance(value, datetime) else f"{value}!"
        changed[2] = (*rows[2][:i], edited, *rows[2][i + 1 :])  # type: ignore[assignment]
        assert batch_digest(changed) != base, f"column {i}"


def test_holder_tag_is_the_keys_first_60_bits_or_a_hash_of_a_key_not_hex() -> None:
    key = hashlib.sha256(b"holder").hexdigest()
    assert holder_tag(key) == int(key[:15], 16) < 2**60
    assert holder_tag(key) == holder_tag(key[:15] + "0" * 49)  # the rest is not in the tag
    for odd in ("", "xyz", "中" * 20, "g" * 64):
        assert 0 <= holder_tag(odd) < 2**60
        assert holder_tag(odd) == holder_tag(odd)
    assert len({holder_tag(k) for k in ("", "xyz", "中" * 20, "g" * 64, key)}) == 5


def test_a_holder_reads_only_their_own_records_when_tags_collide(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    mine, theirs = "a" * 15 + "1" * 49, "a" * 15 + "2" * 49  # one tag, two holders
    assert holder_tag(mine) == holder_tag(theirs)
    row = ("11350100MB0000000X", "verification", "审批", "C-1")
    with db.transaction() as conn:
        insert_rows(conn, [(mine, *row, "mine 1", AT, None), (theirs, *row, "theirs", AT, None)])
        insert_rows(conn, [(mine, *row, "mine 2", AT, None)])
    with db.read() as conn:
        assert [r.what for r in records_of(conn, mine, 0, 10)] == ["mine 2", "mine 1"]
        assert [r.what for r in records_of(conn, theirs, 0, 10)] == ["theirs"]
        assert records_of(conn, "b" * 64, 0, 10) == []
    db.dispose()
