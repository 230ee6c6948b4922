"""Working days under China's holidays and 调休, checked against chinesecalendar 1.11.0's data.

Facts relied on (from the package; it covers 2004-2026):

* 2025 National Day + Mid-autumn: Wed 1 Oct - Wed 8 Oct off; Sun 28 Sep and Sat 11 Oct worked.
* 2026 Mid-autumn: Fri 25 - Sun 27 Sep off; National Day Thu 1 - Wed 7 Oct off;
  Sun 20 Sep and Sat 10 Oct worked.
* 2026 Spring Festival: Sun 15 - Mon 23 Feb off; Sat 14 Feb and Sat 28 Feb worked.
* 2026 Dragon Boat: Fri 19 - Sun 21 Jun off.
* 2026-06-01 is a Monday; 2031-01-01 a Wednesday; 2027-01-01 a Friday.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone

import chinese_calendar
import pytest

from services.assistance.domain.calendar import (
    DEFAULT_CALENDAR,
    OFFICE_HOURS,
    WorkingCalendar,
)
from services.common.clock import CHINA_TZ
from services.common.errors import FailedPrecondition, InvalidArgument

D = date


def cst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA_TZ)


# --- the package's data, as the tests below assume it -------------------------------------


@pytest.mark.parametrize(
    ("day", "working", "name"),
    [
        (D(2025, 9, 28), True, "National Day"),  # Sunday, 调休上班
        (D(2025, 9, 30), True, None),
        (D(2025, 10, 1), False, "National Day"),
        (D(2025, 10, 6), False, "Mid-autumn Festival"),
        (D(2025, 10, 8), False, "National Day"),
        (D(2025, 10, 11), True, "National Day"),  # Saturday, 调休上班
        (D(2026, 2, 14), True, "Spring Festival"),  # Saturday, 调休上班
        (D(2026, 2, 15), False, "Spring Festival"),
        (D(2026, 2, 23), False, "Spring Festival"),
        (D(2026, 2, 28), True, "Spring Festival"),  # Saturday, 调休上班
        (D(2026, 9, 20), True, "National Day"),  # Sunday, 调休上班
        (D(2026, 9, 25), False, "Mid-autumn Festival"),
        (D(2026, 10, 7), False, "National Day"),
        (D(2026, 10, 10), True, "National Day"),  # Saturday, 调休上班
    ],
)
def test_package_data_and_calendar_agree(day, working, name) -> None:
    assert chinese_calendar.get_holiday_detail(day) == (not working, name)
    assert DEFAULT_CALENDAR.is_working_day(day) is working


def test_package_does_not_cover_2027() -> None:
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(2027, 1, 1))
    assert DEFAULT_CALENDAR.covered(2026)
    assert not DEFAULT_CALENDAR.covered(2027)
    assert not DEFAULT_CALENDAR.covered(2031)


# --- add_working_days ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # ordinary weeks
        (D(2026, 6, 5), 1, D(2026, 6, 8)),  # Friday + 1 -> Monday
        (D(2026, 6, 1), 5, D(2026, 6, 8)),  # Monday + 5 -> next Monday
        (D(2026, 6, 6), 1, D(2026, 6, 8)),  # from a Saturday
        (D(2026, 6, 18), 1, D(2026, 6, 22)),  # Thursday before Dragon Boat (19-21 Jun)
        # 2025 National Day: 1-8 Oct off, Sat 11 Oct worked
        (D(2025, 9, 30), 5, D(2025, 10, 14)),  # 9, 10, 11(Sat), 13, 14 Oct
        (D(2025, 9, 30), 3, D(2025, 10, 11)),  # lands on the 调休 Saturday
        (D(2025, 9, 26), 5, D(2025, 10, 10)),  # 28 Sep(Sun), 29, 30 Sep, 9, 10 Oct
        # 2026 National Day: 1-7 Oct off, Sat 10 Oct worked
        (D(2026, 9, 30), 5, D(2026, 10, 13)),  # 8, 9, 10(Sat), 12, 13 Oct
        (D(2026, 9, 18), 2, D(2026, 9, 21)),  # 20 Sep(Sun), 21 Sep
        (D(2026, 9, 24), 1, D(2026, 9, 28)),  # skips Mid-autumn 25-27 Sep
        # 2026 Spring Festival: 15-23 Feb off, Sats 14 and 28 Feb worked
        (D(2026, 2, 13), 1, D(2026, 2, 14)),
        (D(2026, 2, 13), 5, D(2026, 2, 27)),  # 14(Sat), 24, 25, 26, 27 Feb
        (D(2026, 2, 13), 6, D(2026, 2, 28)),
        (D(2026, 2, 13), 7, D(2026, 3, 2)),
        # submitted on a holiday: counting starts the next day all the same
        (D(2026, 2, 18), 1, D(2026, 2, 24)),
        (D(2025, 10, 3), 1, D(2025, 10, 9)),
        (D(2026, 10, 1), 3, D(2026, 10, 10)),
        # submitted on a 调休 working Saturday: that day is not counted either
        (D(2026, 2, 14), 1, D(2026, 2, 24)),
        # into a year the package does not cover: provisional, New Year's Day is a holiday
        (D(2026, 12, 31), 1, D(2027, 1, 4)),
    ],
)
def test_add_working_days(start, n, expected) -> None:
    assert DEFAULT_CALENDAR.add_working_days(start, n) == expected


@pytest.mark.parametrize("n", [0, -1])
def test_add_working_days_needs_at_least_one(n) -> None:
    with pytest.raises(InvalidArgument) as caught:
        DEFAULT_CALENDAR.add_working_days(D(2026, 6, 1), n)
    assert caught.value.violations[0].field == "working_days"
    assert caught.value.reason == "OUT_OF_RANGE"


def test_a_datetime_is_not_a_date() -> None:
    with pytest.raises(InvalidArgument):
        DEFAULT_CALENDAR.is_working_day(datetime(2026, 6, 1, tzinfo=UTC))


# --- configured days -------------------------------------------------------------------------


def test_extra_holiday_overrides_a_working_day() -> None:
    calendar = WorkingCalendar(extra_holidays=[D(2026, 6, 8)])
    assert not calendar.is_working_day(D(2026, 6, 8))
    assert calendar.add_working_days(D(2026, 6, 5), 1) == D(2026, 6, 9)


def test_extra_workday_overrides_a_weekend_and_a_holiday() -> None:
    calendar = WorkingCalendar(extra_workdays=[D(2026, 6, 6), D(2025, 10, 8)])
    assert calendar.is_working_day(D(2026, 6, 6))  # a Saturday
    assert calendar.is_working_day(D(2025, 10, 8))  # a National Day holiday
    assert calendar.add_working_days(D(2026, 6, 5), 1) == D(2026, 6, 6)
    assert calendar.add_working_days(D(2025, 9, 30), 1) == D(2025, 10, 8)


def test_a_day_cannot_be_both_holiday_and_workday() -> None:
    with pytest.raises(InvalidArgument) as caught:
        WorkingCalendar(extra_holidays=[D(2027, 1, 1)], extra_workdays=[D(2027, 1, 1)])
    assert "2027-01-01" in caught.value.message


# --- years the package does not cover --------------------------------------------------------


def test_uncovered_year_falls_back_to_weekends_and_statutory_holidays() -> None:
    calendar = WorkingCalendar()
    assert not calendar.covered(2031)
    assert not calendar.is_working_day(D(2031, 1, 1))  # a Wednesday, but New Year's Day
    assert calendar.is_working_day(D(2031, 1, 2))  # an ordinary Thursday
    assert not calendar.is_working_day(D(2031, 1, 4))  # a Saturday
    assert calendar.add_working_days(D(2031, 1, 3), 1) == D(2031, 1, 6)  # Friday -> Monday


def test_uncovered_year_in_strict_mode_raises() -> None:
    calendar = WorkingCalendar(provisional_fallback=False)
    assert calendar.is_working_day(D(2026, 6, 1))
    with pytest.raises(FailedPrecondition) as caught:
        calendar.is_working_day(D(2031, 1, 1))
    assert caught.value.reason == "CALENDAR_NOT_COVERED"
    assert caught.value.metadata == {"year": "2031"}
    assert "2031" in caught.value.message
    assert "from_file" in caught.value.message
    with pytest.raises(FailedPrecondition):
        calendar.add_working_days(D(2026, 12, 31), 1)


def test_configured_days_cover_a_year_in_strict_mode() -> None:
    calendar = WorkingCalendar(
        extra_holidays=[D(2031, 1, 1)], extra_workdays=[D(2031, 1, 4)], provisional_fallback=False
    )
    assert calendar.covered(2031)
    assert not calendar.covered(2032)
    assert not calendar.is_working_day(D(2031, 1, 1))
    assert calendar.is_working_day(D(2031, 1, 4))  # a configured Saturday
    assert calendar.is_working_day(D(2031, 1, 6))  # an ordinary Monday
    assert calendar.add_working_days(D(2030, 12, 31), 1) == D(2031, 1, 2)


# --- from_file ---------------------------------------------------------------------------------


def test_from_file(tmp_path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"holidays": ["2027-01-01"], "workdays": ["2027-02-07"]}))
    calendar = WorkingCalendar.from_file(path, provisional_fallback=False)
    assert calendar.covered(2027)
    assert not calendar.is_working_day(D(2027, 1, 1))  # a Friday
    assert calendar.is_working_day(D(2027, 2, 7))  # a Sunday
    assert calendar.add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 4)


def test_from_file_keys_are_optional(tmp_path) -> None:
    path = tmp_path / "calendar.json"
    path.write_text('{"holidays": ["2026-06-08"]}')
    assert not WorkingCalendar.from_file(path).is_working_day(D(2026, 6, 8))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b'["2027-01-01"]', "JSON object"),
        (b'{"holiday": []}', "unknown key 'holiday'"),
        (b'{"holidays": "2027-01-01"}', "holidays must be a list"),
        (b'{"holidays": [20270101]}', "holidays[0] must be a date"),
        (b'{"workdays": ["2027-02-07", "20270208"]}', "workdays[1] must be a date"),
        (b'{"holidays": ["2027-02-30"]}', "holidays[0] is not a real date"),
        (b'{"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}', "both"),
    ],
)
def test_from_file_rejects_a_bad_file(tmp_path, content, problem) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InvalidArgument) as caught:
        WorkingCalendar.from_file(path)
    assert caught.value.violations[0].field == "calendar_file"
    assert str(path) in caught.value.message
    assert problem in caught.value.message


def test_from_file_missing(tmp_path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(InvalidArgument) as caught:
        WorkingCalendar.from_file(path)
    assert str(path) in caught.value.message
    assert "cannot be read" in caught.value.message


# --- deadline ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted_at", "n", "last_day"),
    [
        (cst(2025, 9, 30, 9), 5, D(2025, 10, 14)),
        (cst(2026, 9, 30, 16), 5, D(2026, 10, 13)),
        (cst(2026, 6, 5, 17), 1, D(2026, 6, 8)),
        # 23:30 on Friday 13 Feb in China (15:30 UTC): the 调休 Saturday is day 1
        (datetime(2026, 2, 13, 15, 30, tzinfo=UTC), 1, D(2026, 2, 14)),
        # 00:30 on Saturday 14 Feb in China (16:30 UTC on the 13th): day 1 is after the holiday
        (datetime(2026, 2, 13, 16, 30, tzinfo=UTC), 1, D(2026, 2, 24)),
        # received on a holiday
        (cst(2025, 10, 2, 10), 2, D(2025, 10, 10)),
    ],
)
def test_deadline_is_the_end_of_the_last_day_in_china(submitted_at, n, last_day) -> None:
    deadline = DEFAULT_CALENDAR.deadline(submitted_at, n)
    assert deadline.tzinfo is UTC
    assert deadline == datetime.combine(last_day, time(15, 59, 59, 999999), tzinfo=UTC)
    assert deadline.astimezone(CHINA_TZ).time() == time.max


def test_deadline_needs_an_aware_datetime() -> None:
    with pytest.raises(InvalidArgument) as caught:
        DEFAULT_CALENDAR.deadline(datetime(2026, 6, 1, 9), 1)
    assert caught.value.violations[0].field == "submitted_at"


def test_deadline_rejects_a_non_positive_limit() -> None:
    with pytest.raises(InvalidArgument):
        DEFAULT_CALENDAR.deadline(cst(2026, 6, 1, 9), 0)


# --- working_hours_between ---------------------------------------------------------------------


def test_office_hours_are_seven_hours() -> None:
    day = D(2026, 6, 1)
    hours = sum(
        ((end - start) / timedelta(hours=1) for start, end in (p.on(day) for p in OFFICE_HOURS)),
        0.0,
    )
    assert hours == 7.0
    assert [(p.start, p.end) for p in OFFICE_HOURS] == [
        (time(9), time(12)),
        (time(13, 30), time(17, 30)),
    ]


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (cst(2026, 6, 1, 10), cst(2026, 6, 1, 11, 30), 1.5),  # within a morning
        (cst(2026, 6, 1, 11), cst(2026, 6, 1, 14), 1.5),  # across lunch: 1 + 0.5
        (cst(2026, 6, 1, 12, 15), cst(2026, 6, 1, 13, 15), 0.0),  # lunch only
        (cst(2026, 6, 1, 7), cst(2026, 6, 1, 20), 7.0),  # the whole day
        (cst(2026, 6, 1, 18), cst(2026, 6, 2, 8), 0.0),  # overnight
        (cst(2026, 6, 5, 16), cst(2026, 6, 8, 10), 2.5),  # across a weekend: 1.5 + 1
        (cst(2026, 6, 1), cst(2026, 6, 8), 35.0),  # a full week
        (cst(2026, 6, 18, 16), cst(2026, 6, 22, 10), 2.5),  # across Dragon Boat (19-21 Jun)
        (cst(2025, 9, 30, 17), cst(2025, 10, 9, 9, 30), 1.0),  # across National Day 2025
        (cst(2025, 10, 11), cst(2025, 10, 12), 7.0),  # a 调休 working Saturday
        (cst(2026, 2, 21, 9), cst(2026, 2, 21, 17, 30), 0.0),  # a Spring Festival Saturday
        (cst(2026, 6, 1, 11), cst(2026, 6, 1, 10), 0.0),  # reversed
        (cst(2026, 6, 1, 10), cst(2026, 6, 1, 10), 0.0),  # empty
    ],
)
def test_working_hours_between(start, end, hours) -> None:
    assert DEFAULT_CALENDAR.working_hours_between(start, end) == pytest.approx(hours)


def test_working_hours_between_any_timezone() -> None:
    # 09:00-10:00 China time given in UTC and in UTC-5.
    start = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    end = datetime(2026, 5, 31, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert DEFAULT_CALENDAR.working_hours_between(start, end) == pytest.approx(1.0)


def test_working_hours_between_needs_aware_datetimes() -> None:
    with pytest.raises(InvalidArgument):
        DEFAULT_CALENDAR.working_hours_between(datetime(2026, 6, 1, 9), cst(2026, 6, 1, 10))
