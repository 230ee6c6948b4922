"""Verdict rules, holder matching and the status timeline (pure domain, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.identifiers import parse_holder_number
from services.licence_store.domain.licence import Status, Validity
from services.verifier.domain.verdict import (
    HolderMatch,
    Integrity,
    StatusChange,
    Verdict,
    decide,
    name_match,
    number_match,
    status_at,
)

AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in China
VALIDITY = Validity(date(2026, 1, 1), date(2026, 12, 31))


@pytest.mark.parametrize(
    ("integrity", "status", "at", "expected"),
    [
        (Integrity.VERIFIED, Status.ACTIVE, AT, (Verdict.VALID, "ALL_CHECKS_PASSED")),
        (Integrity.VERIFIED, Status.SUSPENDED, AT, (Verdict.SUSPENDED, "STATUS_SUSPENDED")),
        (Integrity.VERIFIED, Status.REVOKED, AT, (Verdict.REVOKED, "STATUS_REVOKED")),
        (Integrity.VERIFIED, Status.CANCELLED, AT, (Verdict.CANCELLED, "STATUS_CANCELLED")),
        (
            Integrity.VERIFIED,
            Status.ACTIVE,
            datetime(2026, 12, 31, 16, 0, tzinfo=UTC),  # 1 January 2027 in China
            (Verdict.EXPIRED, "VALIDITY_ENDED"),
        ),
        (
            Integrity.VERIFIED,
            Status.ACTIVE,
            datetime(2026, 12, 31, 15, 59, tzinfo=UTC),  # still 31 December in China
            (Verdict.VALID, "ALL_CHECKS_PASSED"),
        ),
        (
            Integrity.VERIFIED,
            Status.ACTIVE,
            datetime(2025, 12, 31, 15, 0, tzinfo=UTC),
            (Verdict.NOT_YET_VALID, "VALIDITY_NOT_STARTED"),
        ),
        # Integrity comes first: a licence that cannot be vouched for is never VALID,
        # whatever its status or dates say.
        (Integrity.CONTENT_ALTERED, Status.ACTIVE, AT, (Verdict.CANNOT_CHECK, "CONTENT_ALTERED")),
        (
            Integrity.SIGNATURE_INVALID,
            Status.REVOKED,
            AT,
            (Verdict.CANNOT_CHECK, "SIGNATURE_INVALID"),
        ),
        (Integrity.KEY_UNKNOWN, Status.ACTIVE, AT, (Verdict.CANNOT_CHECK, "ISSUER_KEY_UNKNOWN")),
        (
            Integrity.KEY_NOT_VALID_AT_SIGNING,
            Status.ACTIVE,
            AT,
            (Verdict.CANNOT_CHECK, "ISSUER_KEY_NOT_VALID_AT_SIGNING"),
        ),
    ],
)
def test_decide(integrity, status, at, expected):
    decision = decide(integrity, status, VALIDITY, at)
    assert (decision.verdict, decision.reason) == expected


def test_open_ended_validity_never_expires():
    forever = Validity(date(2000, 1, 1), None)
    assert (
        decide(Integrity.VERIFIED, Status.ACTIVE, forever, AT + timedelta(days=36500)).verdict
        == Verdict.VALID
    )


def test_number_match():
    stored = parse_holder_number("11010519491231002X")
    assert number_match(None, stored) is HolderMatch.NOT_PRESENTED
    assert number_match(parse_holder_number("110105491231002"), stored) is HolderMatch.MATCH
    assert number_match(parse_holder_number("360426199101010071"), stored) is HolderMatch.MISMATCH


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        ("", HolderMatch.NOT_PRESENTED),
        ("   ", HolderMatch.NOT_PRESENTED),
        ("张三", HolderMatch.MATCH),
        (" 张 三 ", HolderMatch.MATCH),
        ("张四", HolderMatch.MISMATCH),
    ],
)
def test_name_match(presented, expected):
    assert name_match(presented, "张三") is expected


def test_name_match_folds_width_and_case():
    assert name_match("ＡＢＣ科技", "abc科技") is HolderMatch.MATCH


def test_status_timeline():
    t0 = AT
    timeline = [
        StatusChange(t0, Status.ACTIVE),
        StatusChange(t0 + timedelta(days=5), Status.SUSPENDED),
        StatusChange(t0 + timedelta(days=9), Status.ACTIVE),
        StatusChange(t0 + timedelta(days=20), Status.REVOKED),
    ]
    assert status_at(timeline, t0 - timedelta(seconds=1)) is None
    assert status_at(timeline, t0) is Status.ACTIVE
    assert status_at(timeline, t0 + timedelta(days=6)) is Status.SUSPENDED
    assert status_at(timeline, t0 + timedelta(days=9)) is Status.ACTIVE
    assert status_at(timeline, t0 + timedelta(days=365)) is Status.REVOKED


def test_vetted_memo_is_bounded():
    from services.common.identifiers import HolderKind
    from services.licence_store.domain.reading import VersionFingerprint
    from services.verifier.vetting import Vetted, VettedMemo

    memo = VettedMemo(size=8)
    for i in range(100):
        # A real Vetted: the memo may run compiled, which checks the types it is given.
        entry = Vetted(
            VersionFingerprint((i,)),
            None,
            Integrity.VERIFIED,
            f"licence {i}",
            "T",
            "I",
            str(i),
            1,
            Validity(date(2026, 1, 1), None),
            "",
            "",
            HolderKind.ORGANISATION,
            "",
            "",
        )
        memo.put(str(i), entry)
    assert len(memo) <= 8
    assert memo.get("99") is not None and memo.get("0") is None


def test_fingerprints_are_equal_exactly_when_their_parts_are_and_equal_ones_share_them():
    from services.licence_store.domain.reading import VersionFingerprint

    kept = VersionFingerprint(("x", b"signed fields", 3))
    read_again = VersionFingerprint(("x", b"signed fields", 3))
    edited = VersionFingerprint(("x", b"edited fields", 3))
    assert kept == kept and kept != ("x", b"signed fields", 3)
    assert kept != edited and edited != kept
    assert kept == read_again and read_again == kept and hash(kept) == hash(read_again)
    # Once found equal, the two share one parts object: later comparisons are by identity.
    assert read_again._parts is kept._parts
    assert kept != edited and edited._parts is not kept._parts
