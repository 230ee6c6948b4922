"""Calendar honesty: years no configured calendar covers are counted on the statutory holidays
and marked provisional; a configured year takes over; the year-end warning.

chinesecalendar 1.11.0 covers 2004-2026; 2027 is not covered (today, 4 December 2026, the
State Council's 2027 arrangement is not in the package). 2027-01-01 is a Friday.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import chinese_calendar
import pytest

from services.assistance.domain.calendar import (
    DEFAULT_CALENDAR,
    Deadline,
    WorkingCalendar,
    years_configured_ahead,
)
from services.assistance.domain.statutory import statutory_holidays
from services.common.clock import CHINA_TZ

D = date


def cst(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=CHINA_TZ)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=CHINA_TZ).astimezone(UTC)


@pytest.mark.parametrize("year", [2025, 2026])
def test_statutory_holidays_agree_with_the_published_arrangements(year) -> None:
    """The 13 days computed for a year are all days off in the State Council's arrangement
    (each arrangement adds bridging days around them, never fewer)."""
    computed = statutory_holidays(year)
    assert len(computed) == 13
    assert [d for d in computed if chinese_calendar.is_workday(d)] == []
    assert all(chinese_calendar.get_holiday_detail(d)[1] for d in computed)


def test_statutory_holidays_of_2027() -> None:
    assert sorted(statutory_holidays(2027)) == [
        D(2027, 1, 1),  # 元旦
        D(2027, 2, 5),  # 除夕
        D(2027, 2, 6),  # 正月初一
        D(2027, 2, 7),
        D(2027, 2, 8),  # 正月初三
        D(2027, 4, 5),  # 清明
        D(2027, 5, 1),  # 劳动节
        D(2027, 5, 2),
        D(2027, 6, 9),  # 端午 (五月初五)
        D(2027, 9, 15),  # 中秋 (八月十五)
        D(2027, 10, 1),  # 国庆节
        D(2027, 10, 2),
        D(2027, 10, 3),
    ]


def test_national_day_2026_counts_the_adjusted_saturday() -> None:
    # 1-7 Oct off, Saturday 10 Oct worked (the package's 2026 arrangement): 8, 9, 10 Oct.
    deadline = DEFAULT_CALENDAR.deadline_for(cst(2026, 9, 30), 3)
    assert deadline.at == end_of(D(2026, 10, 10))
    assert not deadline.provisional


def test_into_2027_the_deadline_is_provisional_and_new_years_day_is_not_counted() -> None:
    # 29, 30, 31 Dec; Fri 1 Jan 2027 (元旦) and the weekend do not count; 4, 5 Jan.
    deadline = DEFAULT_CALENDAR.deadline_for(cst(2026, 12, 28), 5)
    assert deadline.at == end_of(D(2027, 1, 5))
    assert deadline.provisional
    assert not DEFAULT_CALENDAR.is_working_day(D(2027, 1, 1))


def test_a_deadline_within_a_covered_year_is_not_provisional() -> None:
    assert not DEFAULT_CALENDAR.deadline_for(cst(2026, 12, 21), 5).provisional  # 28 Dec
    assert DEFAULT_CALENDAR.deadline_for(cst(2026, 12, 30), 1).at == end_of(D(2026, 12, 31))
    assert not DEFAULT_CALENDAR.deadline_for(cst(2026, 12, 30), 1).provisional


def test_provisional_calendar_keeps_spring_festival_off() -> None:
    # 2027: 除夕 Fri 5 Feb to 初三 Mon 8 Feb off; Thu 4 Feb + 1 working day is Tue 9 Feb.
    assert DEFAULT_CALENDAR.add_working_days(D(2027, 2, 4), 1) == D(2027, 2, 9)


def _file(tmp_path, document) -> WorkingCalendar:
    path = tmp_path / "calendar-2027.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return WorkingCalendar.from_file(path)


def test_a_configured_2027_file_takes_over(tmp_path) -> None:
    # A 2027 arrangement (as YIHAO_CALENDAR_FILE would hold it): 1-3 Jan off, Sat 2 Jan and
    # Sun 3 Jan included, and (for the test) Monday 4 Jan off too, Saturday 9 Jan worked.
    calendar = _file(
        tmp_path,
        {
            "holidays": ["2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04"],
            "workdays": ["2027-01-09"],
        },
    )
    assert calendar.covered(2027)
    deadline = calendar.deadline_for(cst(2026, 12, 28), 5)
    # 29, 30, 31 Dec; 5, 6 Jan (4 Jan is the configured holiday).
    assert deadline == Deadline(end_of(D(2027, 1, 6)), provisional=False)
    assert calendar.deadline_for(cst(2027, 1, 7), 2).at == end_of(D(2027, 1, 9))  # Sat worked
    # A configured year is the file's days plus Monday to Friday: nothing else is guessed.
    assert calendar.is_working_day(D(2027, 4, 5))


def test_the_year_end_warning_60_days_ahead(tmp_path) -> None:
    warning = DEFAULT_CALENDAR.coverage_warning(D(2026, 12, 4))
    assert warning is not None
    assert "2027" in warning and "YIHAO_CALENDAR_FILE" in warning and "28 days" in warning
    assert DEFAULT_CALENDAR.coverage_warning(D(2026, 11, 2)) is not None  # 60 days to go
    assert DEFAULT_CALENDAR.coverage_warning(D(2026, 11, 1)) is None  # 61 days to go
    configured = _file(tmp_path, {"holidays": ["2027-01-01"]})
    assert configured.coverage_warning(D(2026, 12, 4)) is None
    assert configured.coverage_warning(D(2027, 12, 4)) is not None  # and 2028 in its turn


def test_years_configured_ahead(tmp_path) -> None:
    assert years_configured_ahead(D(2026, 12, 4)) == 0
    assert years_configured_ahead(D(2025, 6, 1)) == 1
    assert years_configured_ahead(D(2024, 6, 1)) == 2
    configured = _file(tmp_path, {"holidays": ["2027-01-01"]})
    assert years_configured_ahead(D(2026, 12, 4), configured) == 1


def _pending(deadline: datetime, provisional: bool = True):
    from services.assistance.domain.requests import AssistanceRequest
    from services.common.identifiers import parse_holder_number

    return AssistanceRequest(
        request_id="A1",
        item_code="XZXZ-JY-001",
        requester_code="x",
        provider_code="y",
        holder=parse_holder_number("320106198707105231", "holder_number"),
        purpose="p",
        legal_basis="l",
        case_number="c",
        requested_fields=(),
        submitted_at=cst(2026, 12, 28),
        deadline=deadline,
        deadline_provisional=provisional,
    )


def test_settling_keeps_the_promised_deadline_unless_the_official_one_is_later() -> None:
    promised = end_of(D(2027, 1, 5))
    earlier = _pending(promised)  # e.g. an adjusted working Saturday makes it 4 Jan
    assert earlier.settle_deadline(end_of(D(2027, 1, 4)))
    assert (earlier.deadline, earlier.deadline_provisional) == (promised, False)
    later = _pending(promised)
    assert later.settle_deadline(end_of(D(2027, 1, 7)))
    assert later.deadline == end_of(D(2027, 1, 7))
    official = _pending(promised, provisional=False)
    assert not official.settle_deadline(end_of(D(2027, 1, 7)))
    assert official.deadline == promised
