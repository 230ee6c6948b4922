"""Electronic supervision (电子监察): per-department figures over assistance requests."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.domain.requests import Outcome, RequestStatus


@dataclass
class Figures:
    """What supervision reports for one providing department."""

    department_code: str
    requests: int = 0
    answered: int = 0
    answered_on_time: int = 0
    refused: int = 0
    refusals_by_ground: Counter[str] = field(default_factory=Counter)
    overdue_now: int = 0
    median_response_working_hours: float = 0.0
    urgings: int = 0
    #: Pending requests whose deadline was counted on the provisional calendar.
    provisional_deadlines: int = 0


def figures(
    department_code: str,
    requests: Iterable[Outcome],
    now: datetime,
    calendar: WorkingCalendar,
) -> Figures:
    """The figures for ``department_code`` as provider, at instant ``now``, over ``requests``
    (the outcomes of the requests it received in the period reported on)."""
    out = Figures(department_code)
    hours: list[float] = []
    for r in requests:
        out.requests += 1
        out.urgings += r.urgings
        if r.status is RequestStatus.PENDING:
            out.overdue_now += r.overdue(now)
            out.provisional_deadlines += r.deadline_provisional
            continue
        assert r.decided_at is not None
        hours.append(calendar.working_hours_between(r.submitted_at, r.decided_at))
        if r.status is RequestStatus.ANSWERED:
            out.answered += 1
            out.answered_on_time += not r.overdue(now)
        else:
            out.refused += 1
            out.refusals_by_ground[r.refusal_ground] += 1
    out.median_response_working_hours = round(statistics.median(hours), 2) if hours else 0.0
    return out
