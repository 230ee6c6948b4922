"""A batch of access records staged in one pass: the rows as stored (cut to their columns,
then batch id and holder tag) and the digest of exactly those rows, as row_line reads them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from services.common.access_log import access_records
from services.common.access_rows import (
    CASE_NUMBER_WIDTH,
    PURPOSE_WIDTH,
    WHAT_WIDTH,
    AccessRow,
    batch_digest,
    holder_tag,
    row_line,
    stage,
)

AT = datetime(2026, 12, 5, 9, 0, 0, 250000, tzinfo=UTC)
BEIJING = AT.astimezone(timezone(timedelta(hours=8)))


def _rows() -> list[AccessRow]:
    return [
        ("a" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 1: v", AT, None),
        ("b" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 2: v", AT, "u1"),
        ("中" * 20, "11350100MB0000000Y", "supervision", "", "", "", BEIJING, ""),
        ("a" * 64, "11350100MB0000000X", "verification", "审批", "C-1", "营业执照 1: v", AT, None),
    ]


def test_stage_adds_the_batch_and_tag_and_digests_the_rows_in_order() -> None:
    rows = _rows()
    stored, digest = stage(rows, "A-1")
    assert stored == [(*r, "A-1", holder_tag(r[0])) for r in rows]
    want = hashlib.sha256("".join(row_line(r) for r in rows).encode()).hexdigest()
    assert digest == want == batch_digest(rows) == batch_digest(stored)
    assert stage(list(reversed(rows)), "A-1")[1] != want
    assert stage([], "A-1") == ([], hashlib.sha256(b"").hexdigest())


def test_long_words_are_cut_to_their_columns_and_the_digest_commits_to_the_cut() -> None:
    long = (
        "f" * 64,
        "11350100MB0000000X",
        "verification",
        "用" * 300,
        "N" * 99,
        "w" * 900,
        AT,
        None,
    )
    stored, digest = stage([long, _rows()[0]], "A-2")
    cut = stored[0]
    assert (len(cut[3]), len(cut[4]), len(cut[5])) == (PURPOSE_WIDTH, CASE_NUMBER_WIDTH, WHAT_WIDTH)
    assert cut[3] == long[3][:PURPOSE_WIDTH] and cut[5] == long[5][:WHAT_WIDTH]
    assert stored[1] == (*_rows()[0], "A-2", holder_tag("a" * 64))  # the next row untouched
    assert digest == batch_digest(stored) != batch_digest([long, _rows()[0]])


def test_the_widths_are_the_tables() -> None:
    columns = access_records.c
    assert columns.purpose.type.length == PURPOSE_WIDTH  # type: ignore[attr-defined]
    assert columns.case_number.type.length == CASE_NUMBER_WIDTH  # type: ignore[attr-defined]
    assert columns.what.type.length == WHAT_WIDTH  # type: ignore[attr-defined]


def test_an_instant_in_another_zone_reads_as_utc_and_staff_only_when_named() -> None:
    beijing, utc = _rows()[2], (*_rows()[2][:6], AT, "")
    assert row_line(beijing) == row_line(utc)
    assert stage([beijing], "A")[1] == stage([utc], "A")[1]
    assert row_line(_rows()[1]).endswith(f"{AT.isoformat()}s2:u1\n")
    assert row_line(_rows()[0]).endswith(f"{AT.isoformat()}\n")
