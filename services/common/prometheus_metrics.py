"""The Prometheus implementation of :class:`~services.common.metrics.Metrics`, and /metrics.

The only module that imports ``prometheus_client``. Names follow Prometheus conventions:
the ``yihao_`` prefix, base units (seconds), ``_total`` on counters.

With several worker processes (``yihao serve --workers N``) prometheus-client's multiprocess
mode is used: the parent makes a temporary directory, names it in ``PROMETHEUS_MULTIPROC_DIR``
before starting the workers (which write their samples there), serves /metrics adding up the
files of every worker, and removes the directory when it exits. State exported at scrape time
(assistance backlog, the log's signed head, calendar coverage) is read by the process serving
/metrics, by cheap queries, when scraped.
"""

from __future__ import annotations

import collections
import enum
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from services.common import hot_path
from services.common.metrics import StateProbe

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = tuple(float(2**i) for i in range(11))  # 1 … 1024 items
STATEMENT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5)

#: Every metric name Yihao exports (the dashboard and alert rules are checked against it).
EXPORTED = (
    "yihao_rpc_handled_total",
    "yihao_rpc_duration_seconds",
    "yihao_verdicts_total",
    "yihao_group_commit_batch_size",
    "yihao_group_commit_seconds",
    "yihao_group_commit_wait_seconds",
    "yihao_rate_limited_total",
    "yihao_import_records_total",
    "yihao_db_statement_seconds",
    "yihao_db_connections_in_use",
    "yihao_log_behind_trusted_head",
    "yihao_federation_peer_state",
    "yihao_federation_forwarded_total",
    "yihao_federation_served_total",
    "yihao_licence_rows_total",
    "yihao_assistance_requests_open",
    "yihao_assistance_requests_overdue",
    "yihao_audit_tree_size",
    "yihao_audit_signed_head_timestamp_seconds",
    "yihao_audit_signed_head_age_seconds",
    "yihao_audit_queue_entries",
    "yihao_audit_queue_oldest_age_seconds",
    "yihao_audit_sequence_seconds",
    "yihao_audit_sequenced_entries_total",
    "yihao_audit_sequence_failures_total",
    "yihao_calendar_years_ahead",
    "yihao_calendar_days_ahead",
    "yihao_hot_path_compiled",
)


class PrometheusMetrics:
    """Metrics recorded with prometheus-client, in a registry of their own."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: little use
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._rpc = Counter(
            "yihao_rpc_handled", "RPCs finished", ["service", "method", "code"], registry=r
        )
        self._rpc_seconds = Histogram(
            "yihao_rpc_duration_seconds",
            "RPC latency",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._verdicts = Counter(
            "yihao_verdicts", "Verdicts given", ["verdict", "reason"], registry=r
        )
        self._batch = Histogram(
            "yihao_group_commit_batch_size",
            "Items per group-commit transaction",
            ["committer"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self._commit = Histogram(
            "yihao_group_commit_seconds",
            "Time one group-commit transaction took",
            ["committer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._match_refused = Counter(
            "yihao_holder_match_refused",
            "Answers whose holder matching was refused: the department's MISMATCH budget spent",
            ["department"],
            registry=r,
        )
        self._round = Histogram(
            "yihao_combined_round_size",
            "Concurrent callers answered in one combined round",
            ["combiner"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self._round_seconds = Histogram(
            "yihao_combined_round_seconds",
            "Time one combined round took (read, verdicts, receipts, durable write)",
            ["combiner"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._wait = Histogram(
            "yihao_group_commit_wait_seconds",
            "Time a caller waited for its item to be durable",
            ["committer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._limited = Counter(
            "yihao_rate_limited",
            "Calls refused by the rate limiter",
            ["department", "kind"],
            registry=r,
        )
        self._imported = Counter(
            "yihao_import_records", "Import records by outcome", ["outcome"], registry=r
        )
        self._statement = Histogram(
            "yihao_db_statement_seconds",
            "SQL statement time",
            buckets=STATEMENT_BUCKETS,
            registry=r,
        )
        self._connections = Gauge(
            "yihao_db_connections_in_use",
            "Database connections checked out of the pool",
            multiprocess_mode="livesum",
            registry=r,
        )
        hot = Gauge(
            "yihao_hot_path_compiled",
            "Share of the verification hot path's modules running compiled (1: all; 0: pure)",
            multiprocess_mode="min",
            registry=r,
        )
        hot.set(hot_path.compiled_share())
        self._behind = Gauge(
            "yihao_log_behind_trusted_head",
            "1 while the database's log is behind the signed tree head kept outside it "
            "(the server refuses to answer), else 0",
            multiprocess_mode="livemax",
            registry=r,
        )
        self._peer_state = Gauge(
            "yihao_federation_peer_state",
            "A peer region's circuit breaker: 0 closed, 1 half-open, 2 open",
            ["region"],
            multiprocess_mode="max",
            registry=r,
        )
        self._forwarded = Counter(
            "yihao_federation_forwarded",
            "Verification calls forwarded to peer regions, by outcome",
            ["region", "outcome"],
            registry=r,
        )
        self._served = Counter(
            "yihao_federation_served",
            "Calls from peer regions on the federation listener, by calling region and outcome",
            ["region", "outcome"],
            registry=r,
        )
        self._rows = Counter(
            "yihao_licence_rows",
            "Current licence rows a verification used, by source: kept (memory, unchanged "
            "since read; SQLite) or read (the database)",
            ["source"],
            registry=r,
        )
        self._rows_kept = self._rows.labels("kept")
        self._rows_read = self._rows.labels("read")
        self._sequence_seconds = Histogram(
            "yihao_audit_sequence_seconds",
            "Time one pass of the log's sequencer took (appending queued entries to the tree)",
            buckets=STATEMENT_BUCKETS,
            registry=r,
        )
        self._sequenced = Counter(
            "yihao_audit_sequenced_entries",
            "Queued log entries the sequencer appended to the tree",
            registry=r,
        )
        self._sequence_failed = Counter(
            "yihao_audit_sequence_failures",
            "Passes of the log's sequencer that failed (their entries stay queued)",
            registry=r,
        )

    def rpc_handled(self, service: str, method: str, code: str, seconds: float) -> None:
        """Count the RPC and observe its latency."""
        self._rpc.labels(service, method, code).inc()
        self._rpc_seconds.labels(service, method).observe(seconds)

    def verdicts(self, given: Iterable[tuple[str | enum.Enum, str]]) -> None:
        """Count verdicts by verdict and reason."""
        for (verdict, reason), n in collections.Counter(given).items():
            label = verdict.value if isinstance(verdict, enum.Enum) else verdict
            self._verdicts.labels(label, reason).inc(n)

    def group_commit(self, committer: str, batch_size: int, seconds: float) -> None:
        """Observe one transaction's size and time."""
        self._batch.labels(committer).observe(batch_size)
        self._commit.labels(committer).observe(seconds)

    def commit_wait(self, committer: str, seconds: float) -> None:
        """Observe one caller's wait."""
        self._wait.labels(committer).observe(seconds)

    def combined_round(self, combiner: str, size: int, seconds: float) -> None:
        """Observe one round's size and time."""
        self._round.labels(combiner).observe(size)
        self._round_seconds.labels(combiner).observe(seconds)

    def match_refused(self, department: str, count: int) -> None:
        """Count refused holder matches."""
        self._match_refused.labels(department).inc(count)

    def rate_limited(self, department: str, kind: str) -> None:
        """Count a refusal."""
        self._limited.labels(department, kind).inc()

    def imported(self, outcomes: Iterable[str]) -> None:
        """Count import records by outcome."""
        for outcome, n in collections.Counter(outcomes).items():
            self._imported.labels(outcome).inc(n)

    def db_statement(self, seconds: float) -> None:
        """Observe one statement."""
        self._statement.observe(seconds)

    def db_connections_in_use(self, delta: int) -> None:
        """Move the checked-out gauge."""
        self._connections.inc(delta)

    def log_behind_trusted_head(self, behind: bool) -> None:
        """Set the fail-closed gauge."""
        self._behind.set(1 if behind else 0)

    def federation_peer_state(self, region: str, state: int) -> None:
        """Set a peer region's circuit state."""
        self._peer_state.labels(region).set(state)

    def forwarded(self, region: str, outcome: str) -> None:
        """Count a forwarded call by peer region and outcome."""
        self._forwarded.labels(region, outcome).inc()

    def federation_served(self, region: str, outcome: str) -> None:
        """Count a peer's call by calling region and outcome."""
        self._served.labels(region, outcome).inc()

    def licence_rows(self, kept: int, read: int) -> None:
        """Count the licence rows a read used, by source."""
        if kept:
            self._rows_kept.inc(kept)
        if read:
            self._rows_read.inc(read)

    def log_sequenced(self, entries: int, seconds: float, ok: bool) -> None:
        """Observe one sequencer pass; count what it appended, or its failure."""
        self._sequence_seconds.observe(seconds)
        if ok:
            self._sequenced.inc(entries)
        else:
            self._sequence_failed.inc()


class StateCollector(Collector):
    """Gauges read from the database and calendar when /metrics is scraped."""

    def __init__(self, probe: StateProbe) -> None:
        self.probe = probe

    def describe(self) -> list[Metric]:
        return []  # nothing is queried when registering

    def collect(self) -> Iterator[Metric]:
        opened = GaugeMetricFamily(
            "yihao_assistance_requests_open", "Unanswered assistance requests", labels=["provider"]
        )
        overdue = GaugeMetricFamily(
            "yihao_assistance_requests_overdue",
            "Unanswered assistance requests past their deadline",
            labels=["provider"],
        )
        for b in self.probe.backlog():
            opened.add_metric([b.provider], b.open)
            overdue.add_metric([b.provider], b.overdue)
        yield opened
        yield overdue
        tree = self.probe.tree()
        yield GaugeMetricFamily(
            "yihao_audit_tree_size", "Leaves in the last signed tree head", value=tree.size
        )
        yield GaugeMetricFamily(
            "yihao_audit_signed_head_timestamp_seconds",
            "When the last tree head was signed (Unix time; 0: none yet)",
            value=tree.signed_at,
        )
        age = time.time() - tree.signed_at if tree.signed_at else float("inf")
        yield GaugeMetricFamily(
            "yihao_audit_signed_head_age_seconds", "Age of the last signed tree head", value=age
        )
        yield GaugeMetricFamily(
            "yihao_audit_queue_entries",
            "Log entries committed to the queue and not yet appended to the tree",
            value=tree.queued,
        )
        yield GaugeMetricFamily(
            "yihao_audit_queue_oldest_age_seconds",
            "How long the oldest queued log entry has waited for the sequencer (0: none)",
            value=time.time() - tree.oldest_queued_at if tree.oldest_queued_at else 0.0,
        )
        coverage = self.probe.calendar()
        yield GaugeMetricFamily(
            "yihao_calendar_years_ahead",
            "Years after this one the working-day calendar covers",
            value=coverage.years_ahead,
        )
        yield GaugeMetricFamily(
            "yihao_calendar_days_ahead",
            "Days until the first day of the first year the calendar does not cover",
            value=coverage.days_ahead,
        )
        wal = self.probe.wal()
        if wal is not None:
            yield GaugeMetricFamily(
                "yihao_sqlite_wal_frames",
                "Frames (pages) in SQLite's WAL at the last checkpoint",
                value=wal.frames,
            )
            yield CounterMetricFamily(
                "yihao_sqlite_wal_truncations",
                "TRUNCATE checkpoints of SQLite's WAL this process ran (each held its writers)",
                value=wal.truncations,
            )


@dataclass
class MetricsEndpoint:
    """A running /metrics HTTP server."""

    server: Any
    port: int

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def _host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve_metrics(listen: str, registry: CollectorRegistry) -> MetricsEndpoint:
    """Serve ``registry`` at http://``listen``/metrics in a daemon thread."""
    host, port = _host_port(listen)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return MetricsEndpoint(server, server.server_port)


def single_process_registry(metrics: PrometheusMetrics, probe: StateProbe) -> CollectorRegistry:
    """This process's metrics and the state gauges."""
    metrics.registry.register(StateCollector(probe))
    return metrics.registry


class MultiProcessMetrics:
    """The parent's side of multiprocess mode: the directory, and /metrics over all workers."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="yihao-metrics-")
        os.environ[MULTIPROC_ENV] = self.directory  # inherited by the workers started next

    def registry(self, probe: StateProbe) -> CollectorRegistry:
        """Every worker's samples (read from the directory at scrape time) and the state."""
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        registry.register(StateCollector(probe))
        return registry

    def worker_exited(self, pid: int) -> None:
        """Drop a stopped worker's live gauges."""
        mark_process_dead(pid, self.directory)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Remove the directory."""
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(self.directory, ignore_errors=True)
