"""A deadline counted into a year no configured calendar covers reaches the API and the
supervision view marked provisional; configuring that year settles it at the next start (the
later of the promised and the official deadline). Through real gRPC servers, both backends."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.persistence import repository as repo
from services.common.clock import CHINA_TZ, FixedClock
from services.common.pki import DevPki
from services.licence_store import demo
from testsupport.stack import Stack, settings_for, start_stack
from yihao.v1 import assistance_pb2 as apb

GRADUATE = "320106198707105231"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 12, 28, 10, 0, tzinfo=CHINA_TZ))  # a Monday


def submit(stack: Stack, key: str) -> apb.AssistanceRequest:
    """hrss asks education for a graduate's degree record (a manual item: it stays pending)."""
    return stack.assistance("hrss").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key=key,
            item_code="XZXZ-JY-001",  # manual, 5 working days, provided by education
            holder_number=GRADUATE,
            purpose="职业资格审查",
            legal_basis="《中华人民共和国户口登记条例》第十九条",
            case_number="RS-2026-1228-001",
        )
    )


def _last_day(r: apb.AssistanceRequest) -> date:
    return r.deadline.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ).date()


def test_a_deadline_into_2027_is_provisional_in_the_answer_and_in_supervision(stack: Stack):
    request = submit(stack, "provisional-req-1")
    # 29, 30, 31 Dec; New Year's Day (Fri) and the weekend not counted; 4, 5 Jan 2027.
    assert _last_day(request) == date(2027, 1, 5)
    assert request.deadline_provisional
    seen = stack.assistance("education").GetRequest(
        apb.GetRequestRequest(request_id=request.request_id)
    )
    assert seen.deadline_provisional
    queue = stack.assistance("education").ListPending(apb.ListRequestsRequest())
    assert [r.deadline_provisional for r in queue.requests] == [True]
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    education = next(
        d for d in report.departments if d.department_code == demo.code_of("education")
    )
    assert education.provisional_deadlines == 1
    assert "2027" in report.calendar_warning  # 4 days to the end of the year, 2027 unknown


def test_a_deadline_within_2026_is_not_provisional(stack: Stack, clock: FixedClock):
    clock.set(datetime(2026, 12, 21, 10, 0, tzinfo=CHINA_TZ))
    request = submit(stack, "provisional-req-2")
    assert (_last_day(request), request.deadline_provisional) == (date(2026, 12, 28), False)


def test_configuring_2027_settles_the_deadline_at_the_next_start(
    stack: Stack, database_url: str, pki: DevPki, tmp_path: Path, clock: FixedClock
):
    request = submit(stack, "provisional-req-3")
    stack.stop()
    # The published 2027 arrangement (for the test): 1-3 Jan off, 4 and 5 Jan too.
    path = tmp_path / "calendar.json"
    days = ["2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04", "2027-01-05"]
    path.write_text(json.dumps({"holidays": days}), encoding="utf-8")
    settings = settings_for(database_url, tmp_path, pki, calendar_file=path)
    again = start_stack(settings, pki, clock=clock, demo_catalogue=False)
    try:
        settled = again.assistance("education").GetRequest(
            apb.GetRequestRequest(request_id=request.request_id)
        )
        # Official: 29, 30, 31 Dec, 6, 7 Jan, later than the promised 5 Jan: it counts.
        assert (_last_day(settled), settled.deadline_provisional) == (date(2027, 1, 7), False)
        assert settled.version > request.version
        report = again.assistance("supervision").Supervise(apb.SuperviseRequest())
        assert report.calendar_warning == ""
    finally:
        again.stop()


def test_processes_starting_together_settle_each_deadline_once(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Two settlings at once (as two workers starting on one database): both would read the
    same provisional requests before either wrote; each request is settled, and its version
    raised, once — the second waits for the first and finds nothing left to settle."""
    made = [submit(stack, f"provisional-race-{n}") for n in range(3)]
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"holidays": ["2027-01-01"]}), encoding="utf-8")
    service = stack.app.assistance
    assert service is not None
    service.calendar = WorkingCalendar.from_file(path)
    read_together = threading.Barrier(2)
    real = repo.provisional_pending

    def reading_together(*args: Any, **kwargs: Any) -> list[Any]:
        found = real(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other one waits: go on
            read_together.wait(timeout=2)
        return found

    monkeypatch.setattr(repo, "provisional_pending", reading_together)
    counts: list[int] = []
    workers = [
        threading.Thread(target=lambda: counts.append(service.settle_provisional_deadlines()))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert sorted(counts) == [0, len(made)]
    for request in made:
        seen = stack.assistance("education").GetRequest(
            apb.GetRequestRequest(request_id=request.request_id)
        )
        assert not seen.deadline_provisional and seen.version == request.version + 1
