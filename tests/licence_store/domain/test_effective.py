"""Where a day falls in a licence's validity dates (compiled on the batch path)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.licence_store.domain.effective import Effective, position
from services.licence_store.domain.licence import Status, Validity
from services.verifier.domain.verdict import Integrity, Verdict, decide_on

START = date(2026, 3, 1)
END = date(2027, 2, 28)


@pytest.mark.parametrize(
    ("day", "until", "expected"),
    [
        (START - timedelta(days=1), END, Effective.NOT_YET_VALID),
        (START, END, Effective.VALID),
        (END, END, Effective.VALID),  # the last day is still valid
        (END + timedelta(days=1), END, Effective.EXPIRED),
        (START - timedelta(days=1), None, Effective.NOT_YET_VALID),
        (date(2099, 12, 31), None, Effective.VALID),  # no expiry
    ],
)
def test_a_day_before_within_and_after_the_dates(day, until, expected):
    assert position(START, until, day) is expected
    assert Validity(START, until).position(day) is expected


@pytest.mark.parametrize(
    ("day", "verdict"),
    [
        (START - timedelta(days=1), Verdict.NOT_YET_VALID),
        (START, Verdict.VALID),
        (END, Verdict.VALID),
        (END + timedelta(days=1), Verdict.EXPIRED),
    ],
)
def test_the_verdict_follows_the_dates_when_signature_and_status_are_good(day, verdict):
    decision = decide_on(Integrity.VERIFIED, Status.ACTIVE, Validity(START, END), day)
    assert decision.verdict is verdict


def test_members_are_usable_as_keys_and_by_value():
    assert {Effective.VALID: 1}[Effective("valid")] == 1
    assert Effective.EXPIRED.value == "expired"
