"""Process wiring for metrics: what is measured where, and the state read at scrape time.

``instrument_database`` times statements and tracks pool use with SQLAlchemy events (only
when metrics are on: with them off no event handler is even registered). ``DatabaseProbe``
answers the scrape-time questions with cheap queries: open/overdue assistance requests by
provider (an index scan of the pending ones), the last signed tree head (one row), and how
far ahead the working-day calendar is configured (no query).
"""

from __future__ import annotations

import time
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, event, func, select

from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.domain.requests import RequestStatus
from services.assistance.persistence.tables import assistance_requests
from services.common import audit_log
from services.common.audit_log import tree_heads
from services.common.clock import Clock, SystemClock, china_date
from services.common.config import Settings
from services.common.database import Database
from services.common.metrics import (
    NO_METRICS,
    Backlog,
    CalendarCoverage,
    Metrics,
    TreeState,
    WalState,
)

if TYPE_CHECKING:
    from services.common.prometheus_metrics import MetricsEndpoint

MAX_YEARS_AHEAD = 50


def instrument_database(db: Database, metrics: Metrics) -> None:
    """Statement times and connections in use, recorded from the engine's events."""
    engine = db.engine
    started: dict[int, float] = {}

    @event.listens_for(engine, "before_cursor_execute")
    def _before(_conn: Any, cursor: Any, *_args: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(_conn: Any, cursor: Any, *_args: Any) -> None:
        begun = started.pop(id(cursor), None)
        if begun is not None:
            metrics.db_statement(time.perf_counter() - begun)

    @event.listens_for(engine, "checkout")
    def _checkout(*_args: Any) -> None:
        metrics.db_connections_in_use(1)

    @event.listens_for(engine, "checkin")
    def _checkin(*_args: Any) -> None:
        metrics.db_connections_in_use(-1)


def calendar_coverage(calendar: WorkingCalendar, today: date) -> CalendarCoverage:
    """How many years after ``today``'s the calendar covers (at most
    :data:`MAX_YEARS_AHEAD`), and the days until it stops: the calendar's own
    :meth:`~services.assistance.domain.calendar.WorkingCalendar.years_configured_ahead`."""
    years = min(calendar.years_configured_ahead(today), MAX_YEARS_AHEAD)
    return CalendarCoverage(
        years_ahead=years, days_ahead=(date(today.year + years + 1, 1, 1) - today).days
    )


class DatabaseProbe:
    """The state exported at scrape time, read from the database and the calendar."""

    def __init__(self, db: Database, calendar: WorkingCalendar, clock: Clock) -> None:
        self.db = db
        self.calendar_ = calendar
        self.clock = clock

    def backlog(self) -> list[Backlog]:
        """Pending requests by provider, and how many of them are past their deadline."""
        t = assistance_requests
        late = func.sum(case((t.c.deadline < self.clock.now(), 1), else_=0))
        query = (
            select(t.c.provider_code, func.count(), late)
            .where(t.c.status == RequestStatus.PENDING.value)
            .group_by(t.c.provider_code)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [Backlog(code, int(n), int(overdue or 0)) for code, n, overdue in rows]

    def tree(self) -> TreeState:
        """The last signed tree head's size and signing time; the log's queue."""
        query = (
            select(tree_heads.c.tree_size, tree_heads.c.at)
            .order_by(tree_heads.c.tree_size.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
            queued, oldest = audit_log.queue_state(conn)
        return TreeState(
            size=int(row[0]) if row is not None else 0,
            signed_at=row[1].timestamp() if row is not None else 0.0,
            queued=queued,
            oldest_queued_at=oldest.timestamp() if oldest is not None else 0.0,
        )

    def calendar(self) -> CalendarCoverage:
        """How far ahead the calendar is configured."""
        return calendar_coverage(self.calendar_, china_date(self.clock.now()))

    def wal(self) -> WalState | None:
        """SQLite's WAL as this process's checkpointer last saw it (None: PostgreSQL)."""
        return self.db.wal_state()


def metrics_for(settings: Settings) -> Metrics:
    """Prometheus metrics if ``YIHAO_METRICS_LISTEN`` is set, else the do-nothing fallback
    (prometheus-client is then not even imported)."""
    if not settings.metrics_listen:
        return NO_METRICS
    from services.common.prometheus_metrics import PrometheusMetrics

    return PrometheusMetrics()


def serve_metrics_of(
    listen: str | None, metrics: Metrics, db: Database, calendar: WorkingCalendar, clock: Clock
) -> MetricsEndpoint | None:
    """Serve one process's /metrics on ``listen`` (with the state gauges), if metrics are on."""
    from services.common.prometheus_metrics import (
        PrometheusMetrics,
        serve_metrics,
        single_process_registry,
    )

    if not listen or not isinstance(metrics, PrometheusMetrics):
        return None
    probe = DatabaseProbe(db, calendar, clock)
    return serve_metrics(listen, single_process_registry(metrics, probe))


class WorkerMetrics:
    """The parent of several workers: multiprocess mode's directory and the /metrics over all
    of them (with the state gauges, read through a database connection of its own)."""

    def __init__(self, settings: Settings, calendar: WorkingCalendar) -> None:
        from services.common.prometheus_metrics import MultiProcessMetrics, serve_metrics

        assert settings.metrics_listen
        self._multi = MultiProcessMetrics()  # before the workers start: they inherit it
        self._db = Database.for_settings(settings)
        probe = DatabaseProbe(self._db, calendar, SystemClock())
        self.endpoint = serve_metrics(settings.metrics_listen, self._multi.registry(probe))

    def worker_exited(self, pid: int) -> None:
        """Forget a stopped worker's live gauges."""
        self._multi.worker_exited(pid)

    def close(self) -> None:
        """Stop serving, remove the directory, close the connection."""
        self.endpoint.close()
        self._multi.close()
        self._db.dispose()
