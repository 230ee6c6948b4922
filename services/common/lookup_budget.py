"""No oracle by volume, the lookup side: a department's daily budget of lookups by a person's
ID number that find nothing.

A lookup by holder number (``VerifyByHolder``, ``ListLicencesByHolder``) answers which
licences a person holds; asked about many candidate numbers it tells which of them are real
holders (an ID number whose region and birth date are known leaves about 1,000 candidates,
500 with the sex known). An answer that finds a licence costs the asker nothing here: it
needs a purpose and a case, and leaves an access record the holder sees. A *miss* leaves
nothing, so misses are what an enumeration is made of, and what is budgeted: a department
gets ``per_day`` lookups of persons' numbers that find nothing each day (China's date); past
that, every lookup of a person's number is refused ``RESOURCE_EXHAUSTED``
``LOOKUP_BUDGET_EXHAUSTED`` before anything is read — the refusal depends only on the
department's own count, never on the number asked — and supervision is alerted once that day.

Holder portals are not budgeted (they serve holders their own data), nor are lookups of an
organisation's credit code (business registration is public). The counters are those of the
MISMATCH budget (:mod:`services.common.match_budget`): in Redis when ``REDIS_URL`` is set,
shared by every process, else in this process; keys name the day and the department only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from services.common.clock import CHINA_TZ, Clock, china_date
from services.common.errors import ResourceExhausted
from services.common.match_budget import Alert, Counters

__all__ = ["DEFAULT_LOOKUP_MISS_BUDGET", "LOOKUP_BUDGET_EXHAUSTED", "LookupBudget"]

DEFAULT_LOOKUP_MISS_BUDGET = 200
LOOKUP_BUDGET_EXHAUSTED = "LOOKUP_BUDGET_EXHAUSTED"
_SUBJECT = "lookups by a person's number that found nothing"


@dataclass
class LookupBudget:
    """Counts a department's misses today and refuses lookups once they reach ``per_day``."""

    counters: Counters
    clock: Clock
    per_day: int = DEFAULT_LOOKUP_MISS_BUDGET
    alert: Callable[[Alert], None] | None = None

    def _key(self, dept: str) -> str:
        return f"yihao:lm:{china_date(self.clock.now()).isoformat()}:{dept}"

    def check(self, dept: str) -> None:
        """RESOURCE_EXHAUSTED when ``dept`` has spent today's misses."""
        (spent,) = self.counters.get([self._key(dept)])
        if spent >= self.per_day:
            raise ResourceExhausted(
                f"this department's lookups by a person's number that found nothing reached "
                f"today's budget ({self.per_day}); lookups by a person's number are refused "
                "until tomorrow (China time); supervision has been alerted",
                retry_after=_seconds_to_midnight(self.clock),
                reason=LOOKUP_BUDGET_EXHAUSTED,
            )

    def missed(self, dept: str) -> None:
        """Count one lookup that found nothing; alert supervision when the budget is reached."""
        (count,) = self.counters.incr([self._key(dept)])
        if count == self.per_day and self.alert is not None:
            now = self.clock.now()
            self.alert(Alert(dept, LOOKUP_BUDGET_EXHAUSTED, _SUBJECT, china_date(now), now))


def _seconds_to_midnight(clock: Clock) -> float:
    """Seconds until the next day begins in China."""
    now = clock.now()
    midnight = datetime.combine(china_date(now) + timedelta(days=1), time(0), tzinfo=CHINA_TZ)
    return max(1.0, (midnight - now).total_seconds())
