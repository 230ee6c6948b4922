"""Unit tests of the e-licence: issue, effective status, the state machine, versions, content.

Plain Python, no I/O, never the real clock: every instant is a fixed, timezone-aware UTC
datetime. Validity dates are calendar dates in China (UTC+8), so several tests sit on the
16:00Z boundary where the Chinese date changes.
"""

from __future__ import annotations

import copy
import re
import string
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.clock import CHINA_TZ
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.identifiers import HolderKind, HolderNumber
from services.common.licence_ids import parse_licence_identifier
from services.common.signing import canonical_json
from services.licence_store.domain.catalogue import FieldSpec, FieldType, LicenceType
from services.licence_store.domain.licence import (
    Action,
    Effective,
    Event,
    EventKind,
    Licence,
    Reason,
    Status,
    Validity,
)

NATIONAL_DEFINER = "11100000000013338W"
POLICE = "11350100131860916B"
MARKET = "1135010052601815X2"
DATA_BUREAU = "11350100518190937A"
PERSON = HolderNumber(HolderKind.PERSON, "11010519491231002X")
COMPANY = HolderNumber(HolderKind.ORGANISATION, "91110000600037341L")

#: 10:00 on 1 March 2026 in China.
AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
LATER = AT + timedelta(days=10)

F = FieldType
RESIDENCE_PERMIT = LicenceType(
    type_code=f"{NATIONAL_DEFINER}009",
    name="居住证",
    holder_kind=HolderKind.PERSON,
    fields=(
        FieldSpec("sex", "性别", F.STRING, required=True, max_length=2),
        FieldSpec("residence_address", "居住地址", F.STRING, required=True, sensitive=True),
        FieldSpec("issuing_office", "签发机关", F.STRING, required=True),
        FieldSpec("endorsed_until", "签注有效期至", F.DATE),
        FieldSpec("renewals", "签注次数", F.INTEGER),
    ),
    default_validity_days=365,
    issuer_codes=frozenset({POLICE}),
)
PERMIT_DATA = {
    "sex": "女",
    "residence_address": "福州市鼓楼区五四路1号",
    "issuing_office": "福州市公安局鼓楼分局",
}
BUSINESS_LICENCE = LicenceType(
    type_code=f"{NATIONAL_DEFINER}011",
    name="营业执照",
    holder_kind=HolderKind.ORGANISATION,
    fields=(
        FieldSpec("legal_representative", "法定代表人", F.STRING, required=True),
        FieldSpec("registered_capital", "注册资本（万元）", F.DECIMAL, required=True),
        FieldSpec("established_on", "成立日期", F.DATE, required=True),
        FieldSpec("listed", "上市", F.BOOLEAN),
        FieldSpec("employees", "从业人数", F.INTEGER),
    ),
    default_validity_days=0,
    issuer_codes=frozenset({MARKET}),
)
BUSINESS_DATA = {
    "legal_representative": "张三",
    "registered_capital": "1000.50",
    "established_on": "2015-06-01",
}


def issue_permit(**overrides) -> Licence:
    arguments = {
        "licence_type": RESIDENCE_PERMIT,
        "issuer_code": POLICE,
        "licence_number": "闽A2026000001",
        "holder": PERSON,
        "holder_name": "李四",
        "data": PERMIT_DATA,
        "valid_from": None,
        "valid_until": None,
        "at": AT,
    }
    return Licence.issue(**{**arguments, **overrides})


def issue_business(**overrides) -> Licence:
    arguments = {
        "licence_type": BUSINESS_LICENCE,
        "issuer_code": MARKET,
        "licence_number": "91350100MA2XYZ0001",
        "holder": COMPANY,
        "holder_name": "福州某某科技有限公司",
        "data": BUSINESS_DATA,
        "valid_from": None,
        "valid_until": None,
        "at": AT,
    }
    return Licence.issue(**{**arguments, **overrides})


def invalid(fn, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        fn(*args, **kwargs)
    return info.value


def only_violation(error: InvalidArgument) -> tuple[str, str]:
    assert len(error.violations) == 1, error.violations
    return error.violations[0].field, error.violations[0].reason


def reason_for(action: Action) -> Reason:
    return Reason.for_action(action, "OTHER", f"test: {action.verb}")


PATH_TO: dict[Status, tuple[Action, ...]] = {
    Status.ACTIVE: (),
    Status.SUSPENDED: (Action.SUSPEND,),
    Status.REVOKED: (Action.REVOKE,),
    Status.CANCELLED: (Action.CANCEL,),
}


def permit_in(status: Status) -> Licence:
    """A fresh permit brought to ``status``, its events already drained."""
    licence = issue_permit()
    for action in PATH_TO[status]:
        licence.apply(action, reason_for(action), POLICE, AT)
    licence.take_events()
    assert licence.status is status
    return licence


def snapshot(licence: Licence) -> tuple[Licence, list[Event]]:
    return copy.deepcopy(licence), list(licence.pending_events)


def assert_unchanged(licence: Licence, before: tuple[Licence, list[Event]]) -> None:
    assert licence == before[0]
    assert licence.pending_events == before[1]


# --- independent reference MOD 37,36 (ISO 7064), straight from the standard ---------------

ALNUM = string.digits + string.ascii_uppercase


def ref_mod37_36(payload: str) -> str:
    product = 36
    for char in payload:
        total = (product + ALNUM.index(char)) % 36 or 36
        product = total * 2 % 37
    return ALNUM[(1 - product) % 36]


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


# --- the state machine -----------------------------------------------------------------------

#: Written out independently of Action.sources / Action.target: (action, from) -> to.
TRANSITIONS: dict[tuple[Action, Status], Status] = {
    (Action.SUSPEND, Status.ACTIVE): Status.SUSPENDED,
    (Action.REINSTATE, Status.SUSPENDED): Status.ACTIVE,
    (Action.REVOKE, Status.ACTIVE): Status.REVOKED,
    (Action.REVOKE, Status.SUSPENDED): Status.REVOKED,
    (Action.CANCEL, Status.ACTIVE): Status.CANCELLED,
    (Action.CANCEL, Status.SUSPENDED): Status.CANCELLED,
}
EVENTS = {
    Action.SUSPEND: EventKind.SUSPENDED,
    Action.REINSTATE: EventKind.REINSTATED,
    Action.REVOKE: EventKind.REVOKED,
    Action.CANCEL: EventKind.CANCELLED,
}
ALL_PAIRS = [(action, status) for action in Action for status in Status]


def assert_illegal(error: FailedPrecondition, verb: str, status: Status) -> None:
    assert error.reason == "ILLEGAL_TRANSITION"
    assert error.metadata["current_status"] == status.value.upper()
    assert f"it is {status.value.upper()}" in error.message
    assert f"cannot {verb}" in error.message


@pytest.mark.parametrize(("action", "start"), [p for p in ALL_PAIRS if p in TRANSITIONS], ids=str)
def test_allowed_action_changes_status_and_records_event(action: Action, start: Status) -> None:
    licence = permit_in(start)
    reason = reason_for(action)
    licence.apply(action, reason, DATA_BUREAU, LATER)
    target = TRANSITIONS[(action, start)]
    assert (licence.status, licence.status_reason, licence.status_at) == (target, reason, LATER)
    assert licence.version == 1
    assert licence.take_events() == [Event(EVENTS[action], 1, LATER, DATA_BUREAU, target, reason)]


@pytest.mark.parametrize(
    ("action", "start"), [p for p in ALL_PAIRS if p not in TRANSITIONS], ids=str
)
def test_illegal_action_is_refused_and_changes_nothing(action: Action, start: Status) -> None:
    licence = permit_in(start)
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition) as info:
        licence.apply(action, reason_for(action), POLICE, LATER)
    assert_illegal(info.value, action.verb, start)
    assert_unchanged(licence, before)


def test_illegal_transition_message_names_the_licence() -> None:
    licence = permit_in(Status.REVOKED)
    with pytest.raises(FailedPrecondition) as info:
        licence.apply(Action.SUSPEND, reason_for(Action.SUSPEND), POLICE, LATER)
    assert str(licence.identifier) in info.value.message
    assert info.value.status == "FAILED_PRECONDITION"


def test_action_table_matches_the_reference() -> None:
    for action in Action:
        assert {s for s in Status if (action, s) in TRANSITIONS} == set(action.sources)
        assert {TRANSITIONS[(action, s)] for s in action.sources} == {action.target}
        assert action.event is EVENTS[action]


def test_terminal_statuses() -> None:
    assert {s for s in Status if s.terminal} == {Status.REVOKED, Status.CANCELLED}


def change(licence: Licence, data: dict[str, str], name: str = "", at: datetime = LATER) -> None:
    licence.change(RESIDENCE_PERMIT, data, name, DATA_BUREAU, at)


@pytest.mark.parametrize("start", list(Status))
def test_change_allowed_from_active_and_suspended_only(start: Status) -> None:
    licence = permit_in(start)
    if start in (Status.ACTIVE, Status.SUSPENDED):
        change(licence, {"issuing_office": "鼓楼分局"})
        assert (licence.status, licence.version) == (start, 2)
        assert licence.take_events()[0].status_after is start
        return
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition) as info:
        change(licence, {"issuing_office": "鼓楼分局"})
    assert_illegal(info.value, "change", start)
    assert_unchanged(licence, before)


@pytest.mark.parametrize("start", list(Status))
def test_renew_allowed_from_active_only(start: Status) -> None:
    licence = permit_in(start)
    if start is Status.ACTIVE:
        licence.renew(date(2028, 1, 1), 0, POLICE, LATER)
        assert licence.version == 2
        return
    before = snapshot(licence)
    with pytest.raises(FailedPrecondition) as info:
        licence.renew(date(2028, 1, 1), 0, POLICE, LATER)
    assert_illegal(info.value, "renew", start)
    assert_unchanged(licence, before)


# --- Reason.for_action -----------------------------------------------------------------------

#: Written out independently of REASON_CODES.
ACCEPTED = {
    Action.SUSPEND: {"INVESTIGATION", "VIOLATION", "COURT_ORDER", "HOLDER_REQUEST", "OTHER"},
    Action.REINSTATE: {
        "INVESTIGATION_CLOSED",
        "RECTIFIED",
        "COURT_ORDER",
        "SUSPENDED_IN_ERROR",
        "OTHER",
    },
    Action.REVOKE: {"VIOLATION", "FRAUD", "COURT_ORDER", "OTHER"},
    Action.CANCEL: {
        "HOLDER_REQUEST",
        "HOLDER_DECEASED",
        "HOLDER_DISSOLVED",
        "REPLACED",
        "ISSUED_IN_ERROR",
        "NOT_RENEWED",
        "OTHER",
    },
}
EVERY_CODE = sorted(set().union(*ACCEPTED.values()))


@pytest.mark.parametrize("code", EVERY_CODE)
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_reason_codes_per_action(action: Action, code: str) -> None:
    if code in ACCEPTED[action]:
        assert Reason.for_action(action, code, "情况说明") == Reason(code, "情况说明")
        return
    error = invalid(Reason.for_action, action, code, "情况说明")
    assert only_violation(error) == ("reason_code", "REASON_CODE")


def test_reason_code_is_case_and_space_insensitive() -> None:
    assert Reason.for_action(Action.REVOKE, " fraud ", "") == Reason("FRAUD", "")
    assert Reason.for_action(Action.CANCEL, "Not_Renewed", " 逾期 ") == Reason(
        "NOT_RENEWED", "逾期"
    )


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_unknown_reason_code_lists_the_allowed_ones(action: Action) -> None:
    error = invalid(Reason.for_action, action, "BECAUSE", "")
    description = error.violations[0].description
    assert "BECAUSE" in description and action.verb in description
    assert ", ".join(sorted(ACCEPTED[action])) in description


def test_empty_reason_code_is_named_empty() -> None:
    error = invalid(Reason.for_action, Action.SUSPEND, "  ", "")
    assert only_violation(error) == ("reason_code", "REASON_CODE")
    assert "(empty)" in error.violations[0].description


@pytest.mark.parametrize("text", ["", "   "])
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_other_needs_words(action: Action, text: str) -> None:
    assert only_violation(invalid(Reason.for_action, action, "other", text)) == (
        "reason_text",
        "REQUIRED",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("字" * 500, None), ("字" * 501, "TOO_LONG"), ("见附件\x07", "CHARACTER_SET")],
)
def test_reason_text_rules(text: str, expected: str | None) -> None:
    if expected is None:
        assert Reason.for_action(Action.SUSPEND, "OTHER", text).text == text
    else:
        error = invalid(Reason.for_action, Action.SUSPEND, "VIOLATION", text)
        assert only_violation(error) == ("reason_text", expected)


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


# --- content ---------------------------------------------------------------------------------


def test_content_is_the_signed_document() -> None:
    licence = issue_permit(data={**PERMIT_DATA, "renewals": "3"})
    assert len(licence.salt) == 32  # 128 secret random bits, signed with the content
    assert licence.content() == {
        "licence_id": str(licence.identifier),
        "type_code": RESIDENCE_PERMIT.type_code,
        "licence_number": "闽A2026000001",
        "issuer_code": POLICE,
        "holder": {"kind": "person", "number": PERSON.value, "name": "李四"},
        "fields": {
            "issuing_office": "福州市公安局鼓楼分局",
            "renewals": 3,
            "residence_address": "福州市鼓楼区五四路1号",
            "sex": "女",
        },
        "valid_from": "2026-03-01",
        "valid_until": "2027-02-28",
        "version": 1,
        "version_at": "2026-03-01T02:00:00+00:00",
        "salt": licence.salt,
    }
    assert str(licence.identifier).endswith(".001." + licence.identifier.check)


def test_content_fields_are_sorted_and_deterministic() -> None:
    licence = issue_business(data={**BUSINESS_DATA, "listed": "true", "employees": "5"})
    content = licence.content()
    assert list(content["fields"]) == sorted(content["fields"])
    assert content["holder"] == {
        "kind": "organisation",
        "number": COMPANY.value,
        "name": "福州某某科技有限公司",
    }
    assert content["valid_until"] is None
    assert canonical_json(licence.content()) == canonical_json(copy.deepcopy(licence).content())


def test_content_is_a_copy() -> None:
    licence = issue_permit()
    licence.content()["fields"]["sex"] = "男"
    assert licence.fields["sex"] == "女"


def _set(name: str, value: object):
    return lambda licence: setattr(licence, name, value)


MUTATIONS = {
    "change field": lambda lic: change(lic, {"sex": "男"}),
    "add field": lambda lic: change(lic, {"renewals": "1"}),
    "change holder name": lambda lic: change(lic, {}, "李小四"),
    "renew": lambda lic: lic.renew(date(2028, 1, 1), 0, POLICE, LATER),
    "licence number": _set("licence_number", "闽A2026000002"),
    "holder number": _set("holder", HolderNumber(HolderKind.PERSON, "110105194912310029")),
    "serial": _set("serial", "2026" + "0" * 20),
    "issuer": _set("issuer_code", DATA_BUREAU),
    "type": _set("type_code", f"{NATIONAL_DEFINER}010"),
    "valid from": _set("validity", Validity(date(2026, 3, 2), date(2027, 2, 28))),
    "version": _set("version", 2),
    "version at": _set("version_at", LATER),
    "integer vs string": _set("fields", {**PERMIT_DATA, "renewals": "1"}),
}


@pytest.mark.parametrize("mutate", list(MUTATIONS.values()), ids=list(MUTATIONS))
def test_any_content_change_changes_the_canonical_json(mutate) -> None:
    licence = issue_permit(data={**PERMIT_DATA, "renewals": "1"})
    before = canonical_json(licence.content())
    mutate(licence)
    assert canonical_json(licence.content()) != before


def test_status_is_not_part_of_the_content() -> None:
    licence = issue_permit()
    before = canonical_json(licence.content())
    licence.apply(Action.SUSPEND, reason_for(Action.SUSPEND), POLICE, LATER)
    assert canonical_json(licence.content()) == before


def test_integers_beyond_exact_json_are_refused_and_the_largest_canonicalises() -> None:
    with pytest.raises(InvalidArgument) as caught:
        issue_permit(data={**PERMIT_DATA, "renewals": str(2**53 + 1)})
    assert caught.value.violations[0].reason == "OUT_OF_RANGE"
    licence = issue_permit(data={**PERMIT_DATA, "renewals": str(2**53 - 1)})
    canonical_json(licence.content())


# --- events ----------------------------------------------------------------------------------


def test_take_events_drains_in_order() -> None:
    licence = issue_permit()
    change(licence, {"sex": "男"})
    licence.apply(Action.SUSPEND, Reason("INVESTIGATION"), DATA_BUREAU, LATER)
    events = licence.take_events()
    assert [(e.kind, e.version, e.status_after) for e in events] == [
        (EventKind.ISSUED, 1, Status.ACTIVE),
        (EventKind.CHANGED, 2, Status.ACTIVE),
        (EventKind.SUSPENDED, 2, Status.SUSPENDED),
    ]
    assert events[-1].reason == Reason("INVESTIGATION")
    assert licence.take_events() == []
    assert licence.pending_events == []


def test_pending_events_do_not_affect_equality() -> None:
    licence = issue_permit()
    drained = copy.deepcopy(licence)
    drained.take_events()
    assert licence == drained


# --- property: random action sequences against a reference table -----------------------------

#: A tiny reference machine: step -> {from: to}. Steps missing a "from" are illegal there.
REFERENCE: dict[str, dict[str, str]] = {
    "suspend": {"active": "suspended"},
    "reinstate": {"suspended": "active"},
    "revoke": {"active": "revoked", "suspended": "revoked"},
    "cancel": {"active": "cancelled", "suspended": "cancelled"},
    "change": {"active": "active", "suspended": "suspended"},
    "renew": {"active": "active"},
}
VERSIONING = {"change", "renew"}


def perform(licence: Licence, step: str, n: int) -> None:
    at = AT + timedelta(days=n + 1)
    if step == "change":
        licence.change(RESIDENCE_PERMIT, {"issuing_office": f"分局{n}"}, "", POLICE, at)
    elif step == "renew":
        assert licence.validity.valid_until is not None
        licence.renew(licence.validity.valid_until + timedelta(days=1), 0, POLICE, at)
    else:
        action = Action[step.upper()]
        licence.apply(action, reason_for(action), POLICE, at)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.sampled_from(sorted(REFERENCE)), max_size=15))
def test_random_action_sequences_follow_the_reference(steps: list[str]) -> None:
    licence = issue_permit()
    licence.take_events()
    expected, version = "active", 1
    for n, step in enumerate(steps):
        if expected in REFERENCE[step]:
            perform(licence, step, n)
            expected = REFERENCE[step][expected]
            version += step in VERSIONING
            assert len(licence.take_events()) == 1
        else:
            before = snapshot(licence)
            with pytest.raises(FailedPrecondition) as info:
                perform(licence, step, n)
            assert info.value.metadata["current_status"] == expected.upper()
            assert_unchanged(licence, before)
        assert (licence.status.value, licence.version) == (expected, version)


def test_signed_content_is_plain_json_so_the_fast_canonical_path_is_exact() -> None:
    from services.common.canonical import _plain

    licence = issue_permit(data={**PERMIT_DATA, "renewals": str(2**53 - 1)})
    change(licence, {"sex": "女"})
    assert _plain(licence.content())
    assert canonical_json(licence.content(), plain=True) == canonical_json(licence.content())
