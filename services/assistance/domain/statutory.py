"""China's statutory public holidays of a year, computed: the provisional working calendar.

The State Council publishes each year's arrangement (放假安排: which days are off, which weekend
days become working days, 调休) only late in the year before. For a year with no published
arrangement configured, Yihao counts working days on a *provisional* calendar: Saturdays and
Sundays off, plus the statutory holidays themselves as the 《全国年节及纪念日放假办法》 fixes
them since its revision by the State Council in November 2024 (国务院关于修改《全国年节及纪念日
放假办法》的决定, in force from 2025-01-01) — 13 days:

==========  =====  ============================================================
元旦         1 day  1 January
春节         4 days 农历除夕 (the last day of the lunar year) and 正月初一 to 初三
清明节       1 day  the day of the 清明 solar term (4 or 5 April)
劳动节       2 days 1 and 2 May
端午节       1 day  农历五月初五
中秋节       1 day  农历八月十五
国庆节       3 days 1 to 3 October
==========  =====  ============================================================

Adjusted working days (调休上班) and the bridging days the arrangement adds cannot be known
in advance, so they are not guessed: a deadline counted on this calendar is marked
provisional. Lunar dates and the solar term come from the ``lunar-python`` package.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from lunar_python import Lunar

__all__ = ["statutory_holidays"]

#: (name, month, day, length in days) of the holidays fixed in the Gregorian calendar.
_SOLAR = (("元旦", 1, 1, 1), ("劳动节", 5, 1, 2), ("国庆节", 10, 1, 3))
#: (name, lunar month, lunar day) of the one-day holidays fixed in the lunar calendar.
_LUNAR = (("端午节", 5, 5), ("中秋节", 8, 15))
_SPRING_FESTIVAL_DAYS = 4  # 除夕 and 正月初一 to 初三


def _run(first: date, days: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(days)]


def _lunar_to_solar(year: int, month: int, day: int) -> date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _qingming(year: int) -> date:
    # The lunar year that begins in ``year`` holds that spring's 清明 in its solar-term table.
    solar = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@cache
def statutory_holidays(year: int) -> frozenset[date]:
    """The statutory public holidays of ``year`` (Gregorian), per the 2025 rules.

    正月初一 falls between 21 January and 20 February, so the whole of 春节, 除夕 included,
    lies in ``year``.
    """
    days: list[date] = []
    for _name, month, day, length in _SOLAR:
        days += _run(date(year, month, day), length)
    new_year = _lunar_to_solar(year, 1, 1)
    days += _run(new_year - timedelta(days=1), _SPRING_FESTIVAL_DAYS)
    days.append(_qingming(year))
    days += [_lunar_to_solar(year, month, day) for _name, month, day in _LUNAR]
    return frozenset(days)
