"""The application one server process shares between calls: built from the settings.

:func:`build_app` makes the shared parts — database, key ring, clock, the licence store's read
side, the consent gate with the lookup budget, the verifier with the MISMATCH budget,
federation, assistance — and :class:`App` holds them; :mod:`services.server` puts them behind
the gRPC interceptor chain and serves them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.service import AssistanceService
from services.common.access_log import AccessLog
from services.common.alerts import AlertLog
from services.common.clock import Clock, SystemClock
from services.common.config import Settings
from services.common.database import Database
from services.common.errors import FailedPrecondition
from services.common.holder_vault import HolderVault
from services.common.lookup_budget import LookupBudget
from services.common.match_budget import MatchBudget, build_counters
from services.common.metrics import NO_METRICS, Metrics
from services.common.migrate import upgrade
from services.common.ratelimit import RateLimiter, build_limiter
from services.common.sealing import Sealer
from services.common.trusted_head import TrustedHeadGuard, guard_for
from services.federation.wiring import Federation, federation_for
from services.licence_store.consent_gate import ConsentGate
from services.licence_store.service import LicenceStoreService, ReadSide
from services.observability import (
    instrument_database,
)
from services.tracing import Tracing
from services.verifier.service import VerifierService

log = logging.getLogger("yihao.server")


@dataclass
class App:
    """Everything one process shares between calls.

    The licence store's read side (catalogue cache, public keys, codec, reader) is always
    built: identity and authorisation read the catalogue on every call. The store's use cases
    (catalogue writes, lifecycle, queries, import) are built only when this process hosts the
    licence store, assistance only when it hosts assistance.
    """

    settings: Settings
    db: Database
    clock: Clock
    vault: HolderVault
    read: ReadSide
    verifier: VerifierService
    limiter: RateLimiter
    calendar: WorkingCalendar
    licence_store: LicenceStoreService | None = None
    assistance: AssistanceService | None = None
    metrics: Metrics = NO_METRICS
    tracing: Tracing | None = None
    guard: TrustedHeadGuard | None = None
    federation: Federation | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def close(self, *, last_head: bool = False) -> None:
        """Flush queued records and release the database connections; with ``last_head`` (a
        serving process stopping) sign a last head first, kept outside the database when
        configured, so that a restart finds the log exactly at its kept head."""
        self.verifier.close()
        if last_head and self.guard is not None and self.guard.behind is None:
            try:
                self.verifier.transparency.tree_head(fresh=True)
            except Exception:
                log.exception("could not sign a last tree head at stop")
        if self.federation is not None:
            self.federation.close()
        if self.licence_store is not None:
            self.licence_store.access_log.close()
        self.db.dispose()
        if self.tracing is not None:
            self.tracing.close()

    def store(self) -> LicenceStoreService:
        """The licence store's use cases (FAILED_PRECONDITION when this process has none)."""
        if self.licence_store is None:
            raise FailedPrecondition(
                "this process does not host the licence store (see YIHAO_SERVICES)",
                reason="SERVICE_NOT_HOSTED",
            )
        return self.licence_store


def load_sealer(settings: Settings) -> Sealer:
    """The key ring for secrets at rest: inline JSON, or the key file (made in development)."""
    if settings.master_keys_json:
        return Sealer.from_env_value(settings.master_keys_json)
    assert settings.master_key_file is not None
    return Sealer.from_keyfile(settings.master_key_file, create=True)


def build_calendar(settings: Settings) -> WorkingCalendar:
    """The working-day calendar: the package's, with the configured file's years."""
    if settings.calendar_file:
        return WorkingCalendar.from_file(settings.calendar_file)
    return WorkingCalendar()


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    metrics: Metrics = NO_METRICS,
    tracing: Tracing | None = None,
) -> App:
    """The application for ``settings`` (schema brought up to date unless ``migrate`` is off);
    ``metrics`` is given to everything that counts (by default nothing is counted).

    Only what the hosted services need is built: every process has the licence store's read
    side (catalogue cache, public keys, codec, reader) and the verifier; the store's use cases
    only where ``licence_store`` is hosted, assistance only where ``assistance`` is."""
    db = Database.for_settings(settings)
    if metrics is not NO_METRICS:
        instrument_database(db, metrics)
    if tracing is not None:
        tracing.instrument_database(db)
    sealer = load_sealer(settings)
    if migrate:
        upgrade(db, vault=HolderVault(sealer))
    clock = clock or SystemClock()
    vault = HolderVault(sealer)
    guard = guard_for(db, settings.trusted_head_file, metrics)
    read = ReadSide.build(db, vault, metrics)
    counters = build_counters(settings.redis_url)
    alerts = AlertLog(db)
    lookups = LookupBudget(counters, clock, settings.lookup_miss_budget, alerts.record)
    consent = ConsentGate(db, read.cache, read.public_keys, clock, vault, lookups)
    store = (
        LicenceStoreService(
            db,
            sealer,
            clock,
            AccessLog(db, metrics),
            vault,
            read_side=read,
            metrics=metrics,
            consent_gate=consent,
            consent_max_days=settings.consent_max_days,
        )
        if "licence_store" in settings.services
        else None
    )
    limiter = build_limiter(settings.redis_url, settings.rate_limits_json, metrics)
    budget = MatchBudget(counters, clock, settings.mismatch_budget, alert=alerts.record)
    verifier = VerifierService(
        read.reader,
        db,
        sealer,
        clock,
        vault,
        metrics,
        consent=consent,
        limiter=limiter,
        budget=budget,
        keeper=guard,
    )
    federation = federation_for(
        settings.federation_file, verifier, clock, metrics, db=db, limiter=limiter
    )
    calendar = build_calendar(settings)
    assistance = None
    if "assistance" in settings.services:
        assistance = AssistanceService(
            db,
            read.reader,
            clock,
            calendar,
            vault,
            decision_keys=verifier.receipt_keys,
            consent=consent,
        )
        _settle_calendar(assistance)
        if federation is not None:
            federation.serve_assistance(assistance, db, vault, clock)
    return App(
        settings=settings,
        db=db,
        clock=clock,
        vault=vault,
        read=read,
        verifier=verifier,
        limiter=limiter,
        calendar=calendar,
        licence_store=store,
        assistance=assistance,
        metrics=metrics,
        tracing=tracing,
        guard=guard,
        federation=federation,
    )


def _settle_calendar(assistance: AssistanceService) -> None:
    """At start: settle the provisional deadlines a newly configured year now covers, and warn
    when the year ends soon with no calendar for the next one."""
    settled = assistance.settle_provisional_deadlines()
    if settled:
        log.info("settled %d provisional assistance deadlines on the configured calendar", settled)
    warning = assistance.calendar_warning()
    if warning:
        log.warning(warning)
