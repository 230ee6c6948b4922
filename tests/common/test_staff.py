"""The staff member a department names (``yihao-staff``): the rule, how it is read from the
call's metadata, and how records that name one (or none) are hashed and signed — plain
Python, no server (the end-to-end tests are in tests/test_staff_attribution.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.common.access_log import batch_digest, row_line
from services.common.errors import InvalidArgument
from services.common.interceptors import staff_from_metadata
from services.licence_store.audit import event_entry, event_payload
from services.licence_store.domain.licence import Event, EventKind, Status
from services.verifier.domain.receipt import (
    Receipt,
    receipt_body,
    receipt_body_of,
    unsigned_fields,
)
from services.verifier.domain.verdict import Verdict
from yihao_shared.staff import STAFF_FIELD, check_staff

AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("good", ["u123", "a", "zhang.san@hall-3", "A_b.C-d@e", "x" * 64])
def test_well_formed_staff_ids_are_accepted(good: str) -> None:
    assert check_staff(good) == good
    assert staff_from_metadata([("user-agent", "grpc"), ("yihao-staff", good)]) == good


@pytest.mark.parametrize(
    "bad", ["", "x" * 65, "u 123", "张三", "u123\n", "a/b", "a:b", "u\x00", "a,b"]
)
def test_malformed_staff_ids_name_the_metadata_and_the_rule(bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        staff_from_metadata([("yihao-staff", bad)])
    [violation] = caught.value.violations
    assert violation.field == STAFF_FIELD == "metadata yihao-staff"
    assert "1 to 64 characters of A-Z a-z 0-9 . _ @ -" in violation.description
    assert violation.reason == "STAFF_ID_FORMAT"


def test_no_header_is_no_staff_and_two_are_refused() -> None:
    assert staff_from_metadata(None) is None
    assert staff_from_metadata(()) is None
    assert staff_from_metadata([("yihao-staffer", "u1"), ("x-yihao-staff", "u2")]) is None
    with pytest.raises(InvalidArgument) as caught:
        staff_from_metadata([("yihao-staff", "u1"), ("yihao-staff", "u2")])
    assert caught.value.violations[0].reason == "STAFF_ID_REPEATED"


def test_an_access_record_naming_nobody_hashes_as_before_the_column() -> None:
    row = ("k" * 64, "11350100MB0000000X", "verification", "p", "c", "what", AT, None)
    before = "64:" + "k" * 64 + "18:11350100MB0000000X12:verification1:p1:c4:what"
    assert row_line(row) == before + f"25:{AT.isoformat()}\n"  # the line migration 0010 made
    named = row_line((*row[:7], "u123"))
    assert named == before + f"25:{AT.isoformat()}s4:u123\n"
    assert batch_digest([row]) != batch_digest([(*row[:7], "u123")])
    assert batch_digest([(*row[:7], "u123")]) != batch_digest([(*row[:7], "u124")])


def _event(staff: str | None) -> Event:
    return Event(EventKind.REVOKED, 2, AT, "11350100MB0000000X", Status.REVOKED, None, staff)


def test_an_event_logs_its_staff_only_when_one_was_named() -> None:
    assert "staff" not in event_payload("S1", _event(None), "c" * 64)
    assert event_payload("S1", _event("u123"), "c" * 64)["staff"] == "u123"
    hashes = {event_entry("S1", _event(s), "c" * 64).payload_sha256 for s in (None, "u1", "u2")}
    assert len(hashes) == 3


def _receipt(staff: str | None) -> Receipt:
    answers = [{"verdict": "valid", "licence_id": "L", "content_sha256": "c"}]
    body = receipt_body("R1", AT, "11350100MB0000000X", answers, staff)
    return Receipt(
        "R1", AT, "11350100MB0000000X", Verdict.VALID, "L", "c", body, "k", "a", b"s", staff
    )


@pytest.mark.parametrize("staff", [None, "u123", 'q"uote'])
def test_the_fast_receipt_body_is_the_canonical_one(staff: str | None) -> None:
    texts = [
        '{"content_sha256":"c","licence_id":"L","verdict":"valid"}',
        '{"asked":{"presented_holder_name":"张*"},"licence_id":"L2","verdict":"valid"}',
    ]
    answers = [json.loads(t) for t in texts]
    fast = receipt_body_of("R1", AT, "11350100MB0000000X", [t.encode() for t in texts], staff)
    assert fast == receipt_body("R1", AT, "11350100MB0000000X", answers, staff)
    assert ("staff" in json.loads(fast)) is (staff is not None)


def test_a_receipt_states_its_staff_inside_what_is_signed() -> None:
    assert unsigned_fields(_receipt(None)) == []
    assert unsigned_fields(_receipt("u123")) == []
    assert json.loads(_receipt("u123").body)["staff"] == "u123"
    assert unsigned_fields(replace(_receipt("u123"), staff="u999")) == ["staff"]
    assert unsigned_fields(replace(_receipt(None), staff="u999")) == ["staff"]
    assert unsigned_fields(replace(_receipt("u123"), staff=None)) == ["staff"]
