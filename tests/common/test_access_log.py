"""Access records' batch digest: the shared parts formatted once, the same bytes as row_line."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from services.common.access_log import AccessRow, batch_digest, row_line

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
