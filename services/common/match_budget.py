"""No oracle by volume: a department's daily budget of MISMATCH answers per licence and per
holder.

A holder match answers MATCH or MISMATCH without revealing the stored holder; asked often
enough, it reveals it anyway (a known licence and candidate ID numbers until one MATCHes). So a
department gets ``per_day`` MISMATCH answers per licence and per holder each day (China's
date); past either, holder matching for that licence is refused with a stable reason and never
answers MATCH or MISMATCH again that day, and supervision is alerted once. Honest counters
present what the applicant presented and mostly see MATCH; a typo costs one.

Counters live in Redis when ``REDIS_URL`` is set, so every process and node shares them (one
MGET per chunk of answers, one INCR per MISMATCH); otherwise, or while Redis is unreachable,
in process memory (budgets then hold per process). Keys hold a licence's identifier without
its version and the holder's blind index, never a holder number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from services.common.clock import Clock, china_date

log = logging.getLogger(__name__)

DEFAULT_MISMATCH_BUDGET = 10
REDIS_RETRY_SECONDS = 5.0
KEY_TTL_SECONDS = 2 * 86_400
BUDGET_EXHAUSTED = "MISMATCH_BUDGET_EXHAUSTED"


class Counters(Protocol):
    """Somewhere day counters live."""

    def get(self, keys: Sequence[str]) -> list[int]:
        """The current value of each key (0 when unset)."""
        ...

    def incr(self, keys: Sequence[str]) -> list[int]:
        """Add one to each key; the new values."""
        ...


class LocalCounters:
    """Counters in this process's memory (the keys carry their day; older days are dropped)."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._day = ""
        self._lock = threading.Lock()

    def _roll(self, keys: Sequence[str]) -> None:
        day = keys[0].split(":", 3)[2] if keys else self._day
        if day > self._day:
            self._values = {k: v for k, v in self._values.items() if f":{day}:" in k}
            self._day = day

    def get(self, keys: Sequence[str]) -> list[int]:
        with self._lock:
            return [self._values.get(k, 0) for k in keys]

    def incr(self, keys: Sequence[str]) -> list[int]:
        with self._lock:
            self._roll(keys)
            out = []
            for k in keys:
                self._values[k] = self._values.get(k, 0) + 1
                out.append(self._values[k])
            return out


class RedisCounters:
    """Counters shared through Redis, falling back to local ones while Redis is away."""

    def __init__(self, url: str, fallback: Counters | None = None) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._fallback = fallback or LocalCounters()
        self._down_until = 0.0

    def _try(self, work: Callable[[], list[int]], fallback: Callable[[], list[int]]) -> list[int]:
        if time.monotonic() < self._down_until:
            return fallback()
        try:
            return work()
        except Exception as exc:  # any Redis failure: degrade, never fail the call
            log.warning("match budgets fall back to this process: Redis %s", type(exc).__name__)
            self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return fallback()

    def get(self, keys: Sequence[str]) -> list[int]:
        if not keys:
            return []
        return self._try(
            lambda: [int(v or 0) for v in self._client.mget(list(keys))],
            lambda: self._fallback.get(keys),
        )

    def incr(self, keys: Sequence[str]) -> list[int]:
        def work() -> list[int]:
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.incr(k)
                pipe.expire(k, KEY_TTL_SECONDS)
            return [int(v) for v in pipe.execute()[::2]]

        return self._try(work, lambda: self._fallback.incr(keys))


@dataclass(frozen=True)
class Subject:
    """What a holder match is about: a licence (its identifier without the version) and its
    holder (blind index), with the words an alert names them by."""

    licence_key: str
    holder_key: str
    licence_label: str
    holder_label: str
    #: The tails of its two counters' keys (made once per subject, not per question).
    licence_tail: str = field(init=False, repr=False, compare=False)
    holder_tail: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "licence_tail", ":l:" + self.licence_key)
        object.__setattr__(self, "holder_tail", ":h:" + self.holder_key)


@dataclass(frozen=True)
class Alert:
    """A department spent a day's MISMATCH budget for a licence or a holder."""

    department_code: str
    kind: str
    subject: str
    day: date
    at: datetime


class MatchBudget:
    """Decides, per department, licence and holder, whether holder matching still answers."""

    def __init__(
        self,
        counters: Counters,
        clock: Clock,
        per_day: int = DEFAULT_MISMATCH_BUDGET,
        alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self._counters = counters
        self._clock = clock
        self.per_day = per_day
        self._alert = alert or (lambda a: None)

    def _base(self, dept: str) -> str:
        """The prefix of a department's counters today (China's date)."""
        return f"yihao:mm:{china_date(self._clock.now()).isoformat()}:{dept}"

    def _keys(self, dept: str, subject: Subject, base: str | None = None) -> tuple[str, str]:
        base = base or self._base(dept)
        return base + subject.licence_tail, base + subject.holder_tail

    def exhausted(self, dept: str, subjects: Sequence[Subject]) -> list[bool]:
        """For each subject, whether today's budget is already spent (one round trip)."""
        base = self._base(dept)  # once a chunk: the clock and the date are read once
        keys: list[str] = []
        add = keys.append
        for s in subjects:
            add(base + s.licence_tail)
            add(base + s.holder_tail)
        values = self._counters.get(keys)
        per_day = self.per_day
        return [values[i] >= per_day or values[i + 1] >= per_day for i in range(0, len(values), 2)]

    def spend(self, dept: str, subject: Subject) -> int:
        """Count one MISMATCH answer; the budget left after it (negative: it went past the
        budget, so refuse it; zero: spent, refuse what follows). Supervision is alerted when
        a budget is reached."""
        licence, holder = self._counters.incr(self._keys(dept, subject))
        for count, label in ((licence, subject.licence_label), (holder, subject.holder_label)):
            if count == self.per_day:
                now = self._clock.now()
                self._alert(Alert(dept, BUDGET_EXHAUSTED, label, china_date(now), now))
        return self.per_day - max(licence, holder)


def build_counters(redis_url: str | None) -> Counters:
    """The counters the settings ask for."""
    return RedisCounters(redis_url) if redis_url else LocalCounters()
