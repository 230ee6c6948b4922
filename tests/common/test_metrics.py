"""The metrics seam: counting use cases, the do-nothing fallback, the scrape-time state."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.assistance.domain.calendar import WorkingCalendar
from services.common.errors import ResourceExhausted
from services.common.metrics import NO_METRICS, NoMetrics
from services.common.prometheus_metrics import EXPORTED, PrometheusMetrics, StateCollector
from services.common.ratelimit import Limit, LocalBuckets, RateLimiter
from services.observability import DatabaseProbe, calendar_coverage
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb

HALL = "11350100MB0000000X"


class Recording(NoMetrics):
    def __init__(self) -> None:
        self.refusals: list[tuple[str, str]] = []

    def rate_limited(self, department: str, kind: str) -> None:
        self.refusals.append((department, kind))


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def test_rate_limit_refusals_are_counted_by_department_and_kind():
    metrics = Recording()
    limiter = RateLimiter(LocalBuckets(), {"default": Limit(0.001, 1)}, metrics)
    limiter.check("/yihao.v1.Diagnostics/Ping", HALL)
    with pytest.raises(ResourceExhausted):
        limiter.check("/yihao.v1.Diagnostics/Ping", HALL)
    assert metrics.refusals == [(HALL, "default")]


def test_the_fallback_never_runs_what_it_is_given():
    def explode():
        raise AssertionError("consumed")
        yield

    NO_METRICS.verdicts(explode())
    NO_METRICS.imported(explode())


def test_calendar_coverage_counts_the_years_and_days_ahead():
    bare = WorkingCalendar()
    today = date(2026, 12, 4)
    if bare.covered(2027):
        pytest.skip("the calendar package now covers 2027")
    coverage = calendar_coverage(bare, today)
    assert (coverage.years_ahead, coverage.days_ahead) == (0, 28)


def test_the_probe_counts_open_and_overdue_requests_by_provider(stack: Stack, clock):
    stack.assistance("hrss").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key="metrics-req-1",
            item_code="XZXZ-GA-001",
            holder_number="11010519491231002X",
            purpose="审查",
            legal_basis="依据",
            case_number="C-1",
        )
    )
    probe = DatabaseProbe(stack.app.db, stack.app.assistance.calendar, clock)
    (backlog,) = probe.backlog()
    assert (backlog.open, backlog.overdue) == (1, 0)
    clock.advance(timedelta(days=60))
    (backlog,) = probe.backlog()
    assert (backlog.open, backlog.overdue) == (1, 1)
    assert probe.tree().size >= 0


def test_every_exported_name_is_collected(stack: Stack, clock):
    metrics = PrometheusMetrics()
    probe = DatabaseProbe(stack.app.db, stack.app.assistance.calendar, clock)
    metrics.registry.register(StateCollector(probe))
    metrics.rpc_handled("s", "m", "OK", 0.01)
    metrics.verdicts([("valid", "ALL_CHECKS_PASSED")])
    metrics.group_commit("receipts", 3, 0.002)
    metrics.commit_wait("receipts", 0.003)
    metrics.rate_limited(HALL, "default")
    metrics.imported(["accepted", "rejected"])
    metrics.db_statement(0.0001)
    metrics.db_connections_in_use(1)
    metrics.federation_peer_state("35", 2)
    metrics.forwarded("35", "REGION_UNAVAILABLE")
    metrics.licence_rows(2, 1)
    names = {m.name for m in metrics.registry.collect()}
    # Families are named without _total; histograms without their _bucket/_sum/_count.
    for exported in EXPORTED:
        assert exported.removesuffix("_total") in names, exported


def test_verdicts_given_as_members_are_labelled_by_their_value():
    from services.verifier.domain.verdict import Verdict

    metrics = PrometheusMetrics()
    metrics.verdicts(
        [(Verdict.VALID, "ALL_CHECKS_PASSED")] * 2
        + [("valid", "ALL_CHECKS_PASSED")]
        + [(Verdict.EXPIRED, "VALIDITY_ENDED")]
    )
    value = metrics.registry.get_sample_value
    assert value("yihao_verdicts_total", {"verdict": "valid", "reason": "ALL_CHECKS_PASSED"}) == 3
    assert value("yihao_verdicts_total", {"verdict": "expired", "reason": "VALIDITY_ENDED"}) == 1
