"""Working days under China's statutory holidays and adjusted working weekends (调休).

Time limits for administrative assistance are counted in working days (工作日): statutory
holidays do not count, and the weekend days the State Council turns into working days
around them (调休上班) do. The data comes from the ``chinesecalendar`` package
(module ``chinese_calendar``), which only knows the years whose arrangement the State Council
has published (chinesecalendar 1.11.0: 2004 to 2026); :class:`WorkingCalendar` lets operators
add later years, or correct a day, with ``extra_holidays`` / ``extra_workdays`` (or a JSON file,
:meth:`WorkingCalendar.from_file`, the file ``YIHAO_CALENDAR_FILE`` names).

A year neither covers is counted on the provisional calendar of
:mod:`services.assistance.domain.statutory` (weekends and the statutory holidays, adjusted
working days unknown), and a deadline counted over any such day is *provisional*
(:meth:`WorkingCalendar.deadline_for`): the API, the command line and supervision say so.

Counting convention, as a civil servant counts a time limit (cf. 《民法典》第二百零一条 and
《行政许可法》第八十二条): the day a request is received never counts; the limit starts the
day after, and only working days are counted. A request received on a holiday or weekend
therefore also counts from the following day, so its first counted day is the next working
day. The limit expires at the end (23:59:59.999999 China Standard Time) of its last day.

All dates are calendar dates in China (UTC+8, ``services.common.clock.CHINA_TZ``); all
instants are timezone-aware datetimes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import chinese_calendar

from services.assistance.domain.statutory import statutory_holidays
from services.common.clock import CHINA_TZ, china_date
from services.common.errors import FailedPrecondition, InvalidArgument


@dataclass(frozen=True)
class OfficePeriod:
    """One stretch of office time on a working day, as wall-clock times in China."""

    start: time
    end: time

    def on(self, day: date) -> tuple[datetime, datetime]:
        """The period on ``day`` as a pair of aware instants (China Standard Time)."""
        return (
            datetime.combine(day, self.start, tzinfo=CHINA_TZ),
            datetime.combine(day, self.end, tzinfo=CHINA_TZ),
        )


#: Office hours on a working day, China time: 09:00-12:00 and 13:30-17:30 (7 hours).
OFFICE_HOURS: tuple[OfficePeriod, ...] = (
    OfficePeriod(time(9, 0), time(12, 0)),
    OfficePeriod(time(13, 30), time(17, 30)),
)

CALENDAR_FILE_FIELD = "calendar_file"
_FILE_KEYS = ("holidays", "workdays")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
#: Warn when the year ends within this many days and the next year is not configured.
WARN_DAYS_BEFORE_YEAR_END = 60


@dataclass(frozen=True)
class Deadline:
    """When a time limit ends, and whether it was counted on the provisional calendar (some
    counted day lies in a year with no published arrangement configured)."""

    at: datetime
    provisional: bool


@cache
def _package_gap(year: int) -> str | None:
    """Why ``chinese_calendar`` cannot answer for ``year``; None when it covers the year."""
    if not MINYEAR <= year <= MAXYEAR:
        return f"year {year} is outside the range of dates"
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError as exc:
        return str(exc)
    return None


def _plain_date(value: object, field: str) -> date:
    """``value`` if it is a date (and not a datetime), else InvalidArgument on ``field``."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidArgument.field(field, f"must be a date, got {type(value).__name__}")
    return value


def _aware(value: datetime, field: str) -> datetime:
    """``value`` if it is timezone-aware, else InvalidArgument on ``field``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument.field(field, "must be a timezone-aware datetime")
    return value


def _days(first: date, last: date) -> Iterator[date]:
    """Every date from ``first`` to ``last``, both included."""
    day = first
    while day <= last:
        yield day
        day += _ONE_DAY


def _office_time(day: date, start: datetime, end: datetime) -> timedelta:
    """Office time on ``day`` that falls between the instants ``start`` and ``end``."""
    total = timedelta()
    for period in OFFICE_HOURS:
        opens, closes = period.on(day)
        overlap = min(end, closes) - max(start, opens)
        total += max(overlap, timedelta())
    return total


class WorkingCalendar:
    """Working days under China's statutory holidays and adjusted working weekends (调休).

    ``extra_holidays`` and ``extra_workdays`` take precedence over ``chinese_calendar``: use
    them to correct a day, or to configure a year the package does not cover yet. Configuring
    any day of such a year declares that year's calendar: its configured days plus Monday to
    Friday. A year neither the package nor the configuration covers is counted, if
    ``provisional_fallback``, on the provisional calendar (weekends and the statutory
    holidays; ``covered(year)`` is then False, so callers can warn and mark deadlines
    provisional); otherwise asking about it raises FailedPrecondition (reason
    CALENDAR_NOT_COVERED).
    """

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        *,
        provisional_fallback: bool = True,
    ) -> None:
        self._holidays = frozenset(_plain_date(d, "extra_holidays") for d in extra_holidays)
        self._workdays = frozenset(_plain_date(d, "extra_workdays") for d in extra_workdays)
        clash = sorted(self._holidays & self._workdays)
        if clash:
            raise InvalidArgument.field(
                "extra_workdays", f"{clash[0].isoformat()} is also in extra_holidays"
            )
        self._configured_years = frozenset(d.year for d in self._holidays | self._workdays)
        self.provisional_fallback = provisional_fallback

    @classmethod
    def from_file(cls, path: Path, *, provisional_fallback: bool = True) -> WorkingCalendar:
        """A calendar configured by a JSON file.

        The file holds ``{"holidays": ["2027-01-01", ...], "workdays": ["2027-02-07", ...]}``
        (both keys optional, no others). A file that cannot be read or is malformed raises
        InvalidArgument on field ``calendar_file`` naming the file and the problem.
        """
        document = _read_json(path)
        holidays = _dates_in(document, "holidays", path)
        workdays = _dates_in(document, "workdays", path)
        clash = sorted(holidays & workdays)
        if clash:
            raise _file_error(path, f"{clash[0].isoformat()} is both a holiday and a workday")
        return cls(holidays, workdays, provisional_fallback=provisional_fallback)

    def covered(self, year: int) -> bool:
        """Whether ``year``'s holidays are known (from the package or the configuration)."""
        return year in self._configured_years or _package_gap(year) is None

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a date in China) is a working day."""
        day = _plain_date(day, "day")
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        if _package_gap(day.year) is None:
            return bool(chinese_calendar.is_workday(day))
        self._require_fallback(day.year)
        return day.weekday() < 5 and (
            day.year in self._configured_years or day not in statutory_holidays(day.year)
        )

    def add_working_days(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start``; ``start`` itself never counts (n >= 1)."""
        day = _plain_date(start, "start")
        if n < 1:
            raise InvalidArgument.field(
                "working_days", f"must be at least 1, got {n}", "OUT_OF_RANGE"
            )
        counted = 0
        while counted < n:
            day += _ONE_DAY
            if self.is_working_day(day):
                counted += 1
        return day

    def deadline(self, submitted_at: datetime, working_days: int) -> datetime:
        """When a time limit of ``working_days`` for a request submitted at ``submitted_at`` ends.

        Counting starts the day after the submission date in China (also when that date is a
        holiday), and the limit ends at 23:59:59.999999 China time of its last working day.
        The result is an aware UTC datetime (15:59:59.999999 UTC of that day).
        """
        return self.deadline_for(submitted_at, working_days).at

    def deadline_for(self, submitted_at: datetime, working_days: int) -> Deadline:
        """:meth:`deadline`, and whether it is provisional: some day from the submission date
        counted (the day after submission) to the last lies in a year this calendar does not
        cover."""
        received = china_date(_aware(submitted_at, "submitted_at"))
        last_day = self.add_working_days(received, working_days)
        at = datetime.combine(last_day, time.max, tzinfo=CHINA_TZ).astimezone(UTC)
        years = range((received + _ONE_DAY).year, last_day.year + 1)
        return Deadline(at, not all(self.covered(y) for y in years))

    def years_configured_ahead(self, today: date) -> int:
        """How many years after ``today``'s are covered, one after another (0: not even the
        next). A plain number for a metric (a gauge) and for the year-end warning."""
        ahead = 0
        while ahead < 100 and self.covered(today.year + ahead + 1):
            ahead += 1
        return ahead

    def coverage_warning(self, today: date) -> str | None:
        """Words for the log and health details when the year ends within
        :data:`WARN_DAYS_BEFORE_YEAR_END` days and the next year is not covered; else None."""
        next_year = today.year + 1
        left = (date(next_year, 1, 1) - today).days
        if left > WARN_DAYS_BEFORE_YEAR_END or self.covered(next_year):
            return None
        return (
            f"no working-day calendar for {next_year} ({left} days to go): deadlines running "
            f"into {next_year} are provisional (weekends and statutory holidays only); put the "
            f"State Council's {next_year} arrangement in YIHAO_CALENDAR_FILE "
            '({"holidays": ["YYYY-MM-DD", ...], "workdays": ["YYYY-MM-DD", ...]}) '
            "or upgrade chinesecalendar"
        )

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Hours of office time (:data:`OFFICE_HOURS` on working days) from ``start`` to ``end``.

        0.0 if ``end`` is not after ``start``.
        """
        _aware(start, "start")
        _aware(end, "end")
        if end <= start:
            return 0.0
        total = timedelta()
        for day in _days(china_date(start), china_date(end)):
            if self.is_working_day(day):
                total += _office_time(day, start, end)
        return total / _HOUR

    def _require_fallback(self, year: int) -> None:
        """Raise unless the provisional calendar may stand in for ``year``'s unknown one."""
        if year in self._configured_years or self.provisional_fallback:
            return
        raise FailedPrecondition(
            f"no holiday calendar for {year} ({_package_gap(year)}): configure its statutory "
            "holidays and adjusted working days as extra_holidays/extra_workdays or a JSON file "
            '{"holidays": ["YYYY-MM-DD", ...], "workdays": ["YYYY-MM-DD", ...]} '
            "(WorkingCalendar.from_file), or upgrade chinesecalendar",
            reason="CALENDAR_NOT_COVERED",
            metadata={"year": str(year)},
        )


def _file_error(path: Path, problem: str) -> InvalidArgument:
    """The error for a bad calendar file."""
    return InvalidArgument.field(CALENDAR_FILE_FIELD, f"calendar file {path}: {problem}")


def _read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; InvalidArgument if unreadable, not JSON or not an object."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _file_error(path, f"cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise _file_error(path, "is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise _file_error(path, f"is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise _file_error(path, 'must be a JSON object {"holidays": [...], "workdays": [...]}')
    unknown = sorted(set(document) - set(_FILE_KEYS))
    if unknown:
        raise _file_error(path, f"unknown key {unknown[0]!r} (expected holidays, workdays)")
    return document


def _dates_in(document: dict[str, Any], key: str, path: Path) -> frozenset[date]:
    """The dates listed under ``key`` (none if absent); InvalidArgument if malformed."""
    values = document.get(key, [])
    if not isinstance(values, list):
        raise _file_error(path, f"{key} must be a list of dates (YYYY-MM-DD)")
    return frozenset(_parse_date(value, f"{key}[{i}]", path) for i, value in enumerate(values))


def _parse_date(value: object, where: str, path: Path) -> date:
    """One YYYY-MM-DD date from a calendar file."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise _file_error(path, f"{where} must be a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _file_error(path, f"{where} is not a real date: {value!r}") from exc


#: The calendar of the package's data, provisional for the years it does not cover.
DEFAULT_CALENDAR = WorkingCalendar()


def years_configured_ahead(today: date, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> int:
    """How many years after ``today``'s ``calendar`` covers, one after another (0: the next
    year is not configured): the calendar-coverage gauge."""
    return calendar.years_configured_ahead(today)
