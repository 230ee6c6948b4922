"""Unit tests of the e-licence: issue (inputs, default validity, identifier, serial), Validity
and the effective status computed from the dates and the stored status.

Plain Python, no I/O, never the real clock: every instant is a fixed, timezone-aware UTC
datetime. Validity dates are calendar dates in China (UTC+8), so several tests sit on the
16:00Z boundary where the Chinese date changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.clock import CHINA_TZ
from services.common.licence_ids import parse_licence_identifier
from services.licence_store.domain.licence import (
    Effective,
    Event,
    EventKind,
    Licence,
    Status,
    Validity,
)
from tests.common.identifier_helpers import invalid, only_violation, ref_mod37_36
from tests.licence_store.domain.licence_helpers import (
    AT,
    BUSINESS_DATA,
    COMPANY,
    PATH_TO,
    PERMIT_DATA,
    PERSON,
    POLICE,
    RESIDENCE_PERMIT,
    issue_business,
    issue_permit,
    reason_for,
)

# --- independent reference MOD 37,36 (ISO 7064), straight from the standard ---------------


# --- issue -----------------------------------------------------------------------------------


def test_issue_builds_version_one_active() -> None:
    licence = issue_permit(licence_number=" 闽A2026000001 ", holder_name=" 李四 ")
    assert licence.licence_number == "闽A2026000001"
    assert licence.holder == PERSON
    assert licence.holder_name == "李四"
    assert licence.fields == PERMIT_DATA
    assert (licence.version, licence.status, licence.status_reason) == (1, Status.ACTIVE, None)
    assert licence.issued_at == licence.version_at == licence.status_at == AT
    assert (licence.type_code, licence.issuer_code) == (RESIDENCE_PERMIT.type_code, POLICE)


def test_issue_normalises_typed_fields() -> None:
    data = {**BUSINESS_DATA, "listed": "FALSE", "employees": "-0"}
    licence = issue_business(data=data)
    assert licence.fields["registered_capital"] == "1000.50"
    assert licence.fields["listed"] is False
    assert licence.fields["employees"] == 0


def test_issue_refuses_a_holder_of_the_wrong_kind() -> None:
    error = invalid(issue_permit, holder=COMPANY)
    assert only_violation(error) == ("holder.number", "HOLDER_KIND")
    assert "person" in error.message and "organisation" in error.message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"licence_number": " "}, ("licence_number", "REQUIRED")),
        ({"licence_number": "9" * 65}, ("licence_number", "TOO_LONG")),
        ({"holder_name": ""}, ("holder.name", "REQUIRED")),
        ({"holder_name": "李" * 201}, ("holder.name", "TOO_LONG")),
        ({"holder_name": "李\t四"}, ("holder.name", "CHARACTER_SET")),
        ({"data": {**PERMIT_DATA, "sex": "女性别"}}, ("fields.sex", "TOO_LONG")),
    ],
)
def test_issue_validates_its_inputs(overrides: dict, expected: tuple[str, str]) -> None:
    assert only_violation(invalid(issue_permit, **overrides)) == expected


def test_issue_reports_all_missing_fields() -> None:
    error = invalid(issue_permit, data={"sex": "男"})
    assert {v.field for v in error.violations} == {
        "fields.residence_address",
        "fields.issuing_office",
    }


def test_issue_default_validity_is_the_type_days_inclusive() -> None:
    validity = issue_permit().validity
    assert validity == Validity(date(2026, 3, 1), date(2027, 2, 28))
    assert validity.valid_until - validity.valid_from == timedelta(days=364)


def test_issue_default_start_is_the_date_in_china() -> None:
    # 17:00Z on 28 February is 01:00 on 1 March in China.
    licence = issue_permit(at=datetime(2026, 2, 28, 17, 0, tzinfo=UTC))
    assert licence.validity.valid_from == date(2026, 3, 1)


def test_issue_zero_days_means_no_end() -> None:
    assert issue_business().validity == Validity(date(2026, 3, 1), None)


def test_issue_explicit_start_gets_default_length() -> None:
    validity = issue_permit(valid_from=date(2026, 1, 1)).validity
    assert validity == Validity(date(2026, 1, 1), date(2026, 12, 31))


def test_issue_explicit_dates_win() -> None:
    licence = issue_permit(valid_from=date(2025, 7, 1), valid_until=date(2025, 9, 30))
    assert licence.validity == Validity(date(2025, 7, 1), date(2025, 9, 30))
    business = issue_business(valid_until=date(2030, 1, 1))
    assert business.validity == Validity(date(2026, 3, 1), date(2030, 1, 1))


def test_issue_one_day_licence_is_allowed() -> None:
    one_day = date(2026, 5, 1)
    assert issue_permit(valid_from=one_day, valid_until=one_day).validity.valid_until == one_day


def test_issue_valid_until_before_valid_from_is_refused() -> None:
    error = invalid(issue_permit, valid_from=date(2026, 5, 2), valid_until=date(2026, 5, 1))
    assert only_violation(error) == ("valid_until", "DATE_ORDER")


def test_issue_records_one_issued_event() -> None:
    assert issue_permit().take_events() == [
        Event(EventKind.ISSUED, 1, AT, POLICE, Status.ACTIVE, None)
    ]


def test_issue_identifier_round_trips_with_its_check_character() -> None:
    licence = issue_permit()
    identifier = licence.identifier
    text = str(identifier)
    assert parse_licence_identifier(text) == identifier
    payload = f"{RESIDENCE_PERMIT.type_code}{POLICE}{licence.serial}001"
    assert text == f"1.2.156.3005.2.{RESIDENCE_PERMIT.type_code}.{POLICE}.{licence.serial}.001." + (
        ref_mod37_36(payload)
    )


def test_issue_serial_is_year_and_random_hex() -> None:
    first, second = issue_permit(), issue_permit()
    assert re.fullmatch(r"2026[0-9A-F]{20}", first.serial)
    assert len(first.serial) == 24
    assert first.serial != second.serial


# --- Validity --------------------------------------------------------------------------------


def test_validity_starting() -> None:
    start = date(2026, 1, 1)
    assert Validity.starting(start, 1) == Validity(start, start)
    assert Validity.starting(start, 0) == Validity(start, None)
    assert Validity.starting(start, 30, date(2026, 6, 1)).valid_until == date(2026, 6, 1)


def test_validity_order_is_checked_on_construction() -> None:
    error = invalid(Validity, date(2026, 1, 2), date(2026, 1, 1))
    assert only_violation(error) == ("valid_until", "DATE_ORDER")


# --- effective status ------------------------------------------------------------------------


def june_permit() -> Licence:
    return issue_permit(valid_from=date(2026, 1, 1), valid_until=date(2026, 6, 30))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2025, 12, 31, 15, 59, 59, tzinfo=UTC), Effective.NOT_YET_VALID),
        (datetime(2025, 12, 31, 16, 0, tzinfo=UTC), Effective.VALID),  # 00:00 1 Jan in China
        (datetime(2026, 3, 15, 12, 0, tzinfo=UTC), Effective.VALID),
        (datetime(2026, 6, 30, 15, 30, tzinfo=UTC), Effective.VALID),  # 23:30 30 Jun in China
        (datetime(2026, 6, 30, 16, 30, tzinfo=UTC), Effective.EXPIRED),  # 00:30 1 Jul in China
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), Effective.EXPIRED),
        (datetime(2025, 6, 1, tzinfo=UTC), Effective.NOT_YET_VALID),
    ],
)
def test_effective_status_follows_dates_in_china(at: datetime, expected: Effective) -> None:
    assert june_permit().effective_status(at) is expected


def test_effective_status_accepts_any_aware_timezone() -> None:
    licence = june_permit()
    assert licence.effective_status(datetime(2026, 7, 1, 0, 30, tzinfo=CHINA_TZ)) is (
        Effective.EXPIRED
    )
    assert licence.effective_status(datetime(2026, 6, 30, 23, 30, tzinfo=CHINA_TZ)) is (
        Effective.VALID
    )


def test_effective_status_without_end_never_expires() -> None:
    assert issue_business().effective_status(datetime(2199, 1, 1, tzinfo=UTC)) is Effective.VALID


@pytest.mark.parametrize("status", [Status.SUSPENDED, Status.REVOKED, Status.CANCELLED])
@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 6, 1, tzinfo=UTC),  # dates say not yet valid
        datetime(2026, 3, 1, tzinfo=UTC),  # dates say valid
        datetime(2027, 6, 1, tzinfo=UTC),  # dates say expired
    ],
)
def test_stored_status_wins_over_dates(status: Status, at: datetime) -> None:
    licence = june_permit()
    for action in PATH_TO[status]:
        licence.apply(action, reason_for(action), POLICE, AT)
    assert licence.effective_status(at) is Effective(status.value)
