"""Supervision figures from request outcomes: on time, late, refused, pending, urged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.domain.requests import Outcome, RequestStatus
from services.assistance.domain.supervision import figures

MONDAY_9AM_CHINA = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
DEADLINE = MONDAY_9AM_CHINA + timedelta(days=4)


def outcome(status: RequestStatus, decided_after: timedelta | None, **kw) -> Outcome:
    decided = MONDAY_9AM_CHINA + decided_after if decided_after is not None else None
    return Outcome(
        provider_code=kw.get("provider", "P"),
        status=status,
        submitted_at=MONDAY_9AM_CHINA,
        deadline=DEADLINE,
        decided_at=decided,
        refusal_ground=kw.get("ground", ""),
        urgings=kw.get("urgings", 0),
    )


def test_figures_count_each_outcome_once():
    now = DEADLINE + timedelta(days=1)
    result = figures(
        "P",
        [
            outcome(RequestStatus.ANSWERED, timedelta(hours=2)),  # on time
            outcome(RequestStatus.ANSWERED, timedelta(days=5)),  # after the deadline
            outcome(RequestStatus.REFUSED, timedelta(days=1), ground="NOT_HELD"),
            outcome(RequestStatus.PENDING, None, urgings=2),  # overdue now
        ],
        now,
        WorkingCalendar(),
    )
    assert (result.requests, result.answered, result.answered_on_time) == (4, 2, 1)
    assert (result.refused, dict(result.refusals_by_ground)) == (1, {"NOT_HELD": 1})
    assert (result.overdue_now, result.urgings) == (1, 2)
    assert result.median_response_working_hours > 2


def test_no_requests_no_figures():
    result = figures("P", [], MONDAY_9AM_CHINA, WorkingCalendar())
    assert (result.requests, result.median_response_working_hours) == (0, 0.0)
