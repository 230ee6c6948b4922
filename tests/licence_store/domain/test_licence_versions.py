"""Unit tests of the e-licence operations that make a new version: change (fields and holder
name), renew, and the limit of 999 versions.

Plain Python, no I/O, never the real clock: every instant is a fixed, timezone-aware UTC
datetime. Validity dates are calendar dates in China (UTC+8), so several tests sit on the
16:00Z boundary where the Chinese date changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.common.errors import FailedPrecondition
from services.licence_store.domain.licence import (
    Action,
    Effective,
    Event,
    EventKind,
    Licence,
    Status,
    Validity,
)
from tests.common.identifier_helpers import invalid, only_violation
from tests.licence_store.domain.licence_helpers import (
    AT,
    DATA_BUREAU,
    LATER,
    PERMIT_DATA,
    POLICE,
    assert_unchanged,
    change,
    issue_permit,
    reason_for,
    snapshot,
)

# --- change ----------------------------------------------------------------------------------


def test_change_merges_fields_into_a_new_version() -> None:
    licence = issue_permit(data={**PERMIT_DATA, "renewals": "1"})
    licence.take_events()
    change(licence, {"residence_address": "福州市台江区", "endorsed_until": "2026-12-31"})
    assert licence.fields == {
        **PERMIT_DATA,
        "residence_address": "福州市台江区",
        "endorsed_until": "2026-12-31",
        "renewals": 1,
    }
    assert (licence.version, licence.version_at) == (2, LATER)
    assert (licence.issued_at, licence.status_at) == (AT, AT)
    assert licence.identifier.version == 2
    assert licence.take_events() == [
        Event(EventKind.CHANGED, 2, LATER, DATA_BUREAU, Status.ACTIVE, None)
    ]


def test_change_empty_value_removes_an_optional_field() -> None:
    licence = issue_permit(data={**PERMIT_DATA, "endorsed_until": "2026-09-01", "renewals": "2"})
    change(licence, {"endorsed_until": " ", "renewals": ""})
    assert licence.fields == PERMIT_DATA


def test_change_holder_name_only() -> None:
    licence = issue_permit()
    change(licence, {}, " 李小四 ")
    assert (licence.holder_name, licence.fields, licence.version) == ("李小四", PERMIT_DATA, 2)


@pytest.mark.parametrize("name", ["", "  "])
def test_change_with_nothing_to_change_is_refused(name: str) -> None:
    licence = issue_permit()
    before = snapshot(licence)
    error = invalid(change, licence, {}, name)
    assert only_violation(error) == ("fields", "EMPTY_CHANGE")
    assert_unchanged(licence, before)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"residence_address": ""}, ("fields.residence_address", "REQUIRED")),
        ({"endorsed_until": "31/12/2026"}, ("fields.endorsed_until", "DATE_FORMAT")),
        ({"nickname": "小四"}, ("fields.nickname", "UNKNOWN_FIELD")),
    ],
)
def test_change_bad_data_is_refused_and_changes_nothing(data: dict, expected: tuple) -> None:
    licence = issue_permit()
    before = snapshot(licence)
    assert only_violation(invalid(change, licence, data)) == expected
    assert_unchanged(licence, before)


def test_change_bad_holder_name_changes_nothing() -> None:
    licence = issue_permit()
    before = snapshot(licence)
    error = invalid(change, licence, {"residence_address": "福州市台江区"}, "李" * 201)
    assert only_violation(error) == ("holder_name", "TOO_LONG")
    assert_unchanged(licence, before)


# --- renew -----------------------------------------------------------------------------------


def test_renew_to_a_later_date() -> None:
    licence = issue_permit()
    licence.take_events()
    licence.renew(date(2028, 2, 29), 365, POLICE, LATER)
    assert licence.validity == Validity(date(2026, 3, 1), date(2028, 2, 29))
    assert (licence.version, licence.version_at, licence.status) == (2, LATER, Status.ACTIVE)
    assert licence.take_events() == [
        Event(EventKind.RENEWED, 2, LATER, POLICE, Status.ACTIVE, None)
    ]


@pytest.mark.parametrize("until", [date(2027, 2, 28), date(2027, 2, 27), date(2026, 3, 1)])
def test_renew_must_extend(until: date) -> None:
    licence = issue_permit()  # until 2027-02-28
    before = snapshot(licence)
    error = invalid(licence.renew, until, 365, POLICE, LATER)
    assert only_violation(error) == ("valid_until", "NOT_LATER")
    assert_unchanged(licence, before)


def test_renew_default_days_count_from_today_in_china() -> None:
    licence = issue_permit(valid_from=date(2025, 3, 1))  # until 2026-02-28, expired at AT
    at = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 11 March in China
    licence.renew(None, 365, POLICE, at)
    assert licence.validity == Validity(date(2025, 3, 1), date(2027, 3, 10))
    assert licence.effective_status(at) is Effective.VALID


def test_renew_without_date_or_default_is_refused() -> None:
    licence = issue_permit()
    error = invalid(licence.renew, None, 0, POLICE, LATER)
    assert only_violation(error) == ("valid_until", "REQUIRED")


def test_renew_default_runs_on_from_the_current_end() -> None:
    licence = issue_permit(valid_until=date(2030, 1, 1))
    licence.renew(None, 30, POLICE, LATER)
    assert licence.validity.valid_until == date(2030, 1, 31)


def test_renew_of_an_open_ended_licence_is_refused() -> None:
    licence = issue_permit()
    licence.validity = Validity(licence.validity.valid_from, None)
    with pytest.raises(FailedPrecondition) as caught:
        licence.renew(date(2040, 1, 1), 0, POLICE, LATER)
    assert caught.value.reason == "NO_EXPIRY"


# --- the version limit -----------------------------------------------------------------------


def permit_at_version(version: int) -> Licence:
    licence = issue_permit()
    licence.version = version
    licence.take_events()
    return licence


def test_version_999_is_reachable() -> None:
    licence = permit_at_version(998)
    change(licence, {"issuing_office": "鼓楼分局"})
    assert licence.version == 999
    assert str(licence.identifier).split(".")[-2] == "999"


@pytest.mark.parametrize("operation", ["change", "renew"])
def test_version_limit(operation: str) -> None:
    licence = permit_at_version(999)
    with pytest.raises(FailedPrecondition) as info:
        if operation == "change":
            change(licence, {"issuing_office": "鼓楼分局"})
        else:
            licence.renew(date(2030, 1, 1), 0, POLICE, LATER)
    assert info.value.reason == "VERSION_LIMIT"
    assert licence.version == 999
    assert licence.take_events() == []


def test_status_actions_work_at_the_version_limit() -> None:
    licence = permit_at_version(999)
    licence.apply(Action.SUSPEND, reason_for(Action.SUSPEND), POLICE, LATER)
    assert licence.status is Status.SUSPENDED


@pytest.mark.parametrize("operation", ["change", "renew"])
def test_version_limit_changes_nothing(operation: str) -> None:
    licence = permit_at_version(999)
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition):
        if operation == "change":
            change(licence, {"issuing_office": "鼓楼分局"})
        else:
            licence.renew(date(2030, 1, 1), 0, POLICE, LATER)
    assert_unchanged(licence, before)
