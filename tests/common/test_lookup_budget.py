"""The lookup-miss budget on its own (services/common/lookup_budget.py): misses counted per
department and day, refusal once spent (until China's midnight), one alert per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.clock import FixedClock
from services.common.errors import ResourceExhausted
from services.common.lookup_budget import LOOKUP_BUDGET_EXHAUSTED, LookupBudget
from services.common.match_budget import Alert, LocalCounters

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def test_misses_are_counted_per_department_until_the_budget_then_refused() -> None:
    clock, alerts = FixedClock(T0), []
    budget = LookupBudget(LocalCounters(), clock, per_day=3, alert=alerts.append)
    for _ in range(3):
        budget.check("A")
        budget.missed("A")
    with pytest.raises(ResourceExhausted) as refused:
        budget.check("A")
    assert refused.value.reason == LOOKUP_BUDGET_EXHAUSTED
    assert refused.value.retry_after == 14 * 3600  # 10:00 → midnight in Beijing
    budget.check("B")  # another department's budget is its own
    budget.missed("A")  # over the budget: no second alert
    assert [(a.department_code, a.kind) for a in alerts] == [("A", LOOKUP_BUDGET_EXHAUSTED)]
    assert isinstance(alerts[0], Alert) and alerts[0].day.isoformat() == "2026-06-01"


def test_a_new_day_in_china_starts_a_new_budget() -> None:
    clock = FixedClock(T0)
    budget = LookupBudget(LocalCounters(), clock, per_day=1)
    budget.missed("A")
    with pytest.raises(ResourceExhausted):
        budget.check("A")
    clock.advance(timedelta(hours=13, minutes=59))  # 23:59 in Beijing: still today
    with pytest.raises(ResourceExhausted):
        budget.check("A")
    clock.advance(timedelta(minutes=1))  # midnight in Beijing, 16:00 UTC
    budget.check("A")
