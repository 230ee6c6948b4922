"""What the application counts, as an interface: use cases count without a metrics library.

:class:`Metrics` is injected into the services that count (the verifier, the licence store's
import, group commit, the rate limiter, the RPC interceptor, the database); :data:`NO_METRICS`
is the do-nothing fallback they get by default, so with metrics off nothing is measured at all.
The Prometheus implementation lives in :mod:`services.common.prometheus_metrics`, the only
module that imports ``prometheus_client``.

Labels name kinds of things only — services, methods, status codes, verdicts, reasons,
outcomes, department credit codes (public codes of organisations) — never a person.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class Metrics(Protocol):
    """The counts and timings Yihao records."""

    def rpc_handled(self, service: str, method: str, code: str, seconds: float) -> None:
        """One RPC finished with status ``code`` after ``seconds``."""

    def verdicts(self, given: Iterable[tuple[str | enum.Enum, str]]) -> None:
        """Verdicts given, as (verdict, reason) pairs (an iterable the fallback never runs); a
        verdict may be an enum member, labelled by its value (counted first, named once)."""

    def group_commit(self, committer: str, batch_size: int, seconds: float) -> None:
        """One group-commit transaction of ``batch_size`` items took ``seconds``."""

    def commit_wait(self, committer: str, seconds: float) -> None:
        """One caller waited ``seconds`` for its item to be durable."""

    def combined_round(self, combiner: str, size: int, seconds: float) -> None:
        """One round of ``size`` concurrent callers' items, answered together, took
        ``seconds`` (:mod:`services.common.combining`)."""

    def match_refused(self, department: str, count: int) -> None:
        """``count`` answers to ``department`` had holder matching refused: its MISMATCH
        budget for the licence or holder was spent."""

    def rate_limited(self, department: str, kind: str) -> None:
        """A call of ``kind`` by ``department`` was refused by the rate limiter."""

    def imported(self, outcomes: Iterable[str]) -> None:
        """Import records' outcomes (an iterable the fallback never runs)."""

    def db_statement(self, seconds: float) -> None:
        """One SQL statement took ``seconds``."""

    def db_connections_in_use(self, delta: int) -> None:
        """Connections checked out of the pool went up or down by ``delta``."""

    def log_behind_trusted_head(self, behind: bool) -> None:
        """Whether the database's log is behind the signed head kept outside it (as checked)."""

    def federation_peer_state(self, region: str, state: int) -> None:
        """A peer region's circuit is now ``state`` (0 closed, 1 half-open, 2 open)."""

    def forwarded(self, region: str, outcome: str) -> None:
        """A forwarded verification call to ``region`` ended with ``outcome``."""

    def federation_served(self, region: str, outcome: str) -> None:
        """A call from peer ``region`` on the federation listener ended with ``outcome``."""

    def licence_rows(self, kept: int, read: int) -> None:
        """A verification read answered ``kept`` licence rows from memory, ``read`` from the
        database (SQLite's kept rows)."""

    def log_sequenced(self, entries: int, seconds: float, ok: bool) -> None:
        """One pass of the log's sequencer appended ``entries`` queued entries in ``seconds``
        (``ok`` False: it failed, and they stay queued)."""


class NoMetrics:
    """The do-nothing fallback: every method returns at once."""

    def rpc_handled(self, service: str, method: str, code: str, seconds: float) -> None:
        """Nothing."""

    def verdicts(self, given: Iterable[tuple[str | enum.Enum, str]]) -> None:
        """Nothing."""

    def group_commit(self, committer: str, batch_size: int, seconds: float) -> None:
        """Nothing."""

    def commit_wait(self, committer: str, seconds: float) -> None:
        """Nothing."""

    def combined_round(self, combiner: str, size: int, seconds: float) -> None:
        """Nothing."""

    def match_refused(self, department: str, count: int) -> None:
        """Nothing."""

    def rate_limited(self, department: str, kind: str) -> None:
        """Nothing."""

    def imported(self, outcomes: Iterable[str]) -> None:
        """Nothing."""

    def db_statement(self, seconds: float) -> None:
        """Nothing."""

    def db_connections_in_use(self, delta: int) -> None:
        """Nothing."""

    def log_behind_trusted_head(self, behind: bool) -> None:
        """Nothing."""

    def federation_peer_state(self, region: str, state: int) -> None:
        """Nothing."""

    def forwarded(self, region: str, outcome: str) -> None:
        """Nothing."""

    def federation_served(self, region: str, outcome: str) -> None:
        """Nothing."""

    def licence_rows(self, kept: int, read: int) -> None:
        """Nothing."""

    def log_sequenced(self, entries: int, seconds: float, ok: bool) -> None:
        """Nothing."""


NO_METRICS: Metrics = NoMetrics()


@dataclass(frozen=True)
class Backlog:
    """Assistance requests a provider has not answered: open, and of those overdue."""

    provider: str
    open: int
    overdue: int


@dataclass(frozen=True)
class TreeState:
    """The tamper-evident log: its size at the last signed head, that head's age, and the
    entries waiting in its queue for the sequencer."""

    size: int
    signed_at: float  # Unix time of the last signed head; 0 if none yet
    queued: int = 0  # entries committed to the log's queue and not yet in the tree
    oldest_queued_at: float = 0.0  # Unix time of the oldest of them; 0 if none


@dataclass(frozen=True)
class CalendarCoverage:
    """How far ahead the working-day calendar is configured."""

    years_ahead: int  # consecutive years after this one that are covered
    days_ahead: int  # days from today to the first day of the first uncovered year


@dataclass(frozen=True)
class WalState:
    """SQLite's write-ahead log, as this process's checkpointer last saw it."""

    frames: int  # frames (pages) in the WAL at the last checkpoint
    truncations: int  # TRUNCATE checkpoints this process ran (each held its writers)


class StateProbe(Protocol):
    """Reads the state exported at scrape time (cheap queries, run only when scraped)."""

    def backlog(self) -> list[Backlog]:
        """Open and overdue assistance requests by provider."""

    def tree(self) -> TreeState:
        """The tamper-evident log's last signed head, and its queue."""

    def calendar(self) -> CalendarCoverage:
        """The calendar's coverage."""

    def wal(self) -> WalState | None:
        """SQLite's WAL (None: not SQLite)."""
