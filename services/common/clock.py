"""Time, injectable: every decision that depends on "now" takes a :class:`Clock`.

Licence validity dates are calendar dates in China Standard Time (UTC+8, no daylight saving),
so "is it expired?" is asked of the date of the instant in Beijing, not in UTC.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from yihao_shared.vocabulary import CHINA_TZ as CHINA_TZ


class Clock(Protocol):
    """Anything that can tell the current instant (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._at += delta


def china_date(at: datetime) -> date:
    """The calendar date in China at instant ``at``."""
    return at.astimezone(CHINA_TZ).date()


def as_utc(at: datetime) -> datetime:
    """Normalise a datetime read back from a database (naive means UTC) to aware UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
