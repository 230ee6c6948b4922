"""A server's background work: the trusted-head check, head signing, commitment checks and
start-up resealing, each in a daemon thread until the server stops (errors logged, never
fatal). :mod:`services.server` starts them; see docs/operations.md for their settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from grpc_health.v1 import health, health_pb2

from services.assistance.service import AssistanceService
from services.common.thread_names import name_this_thread
from services.common.trusted_head import TrustedHeadGuard
from services.verifier.transparency import Transparency

log = logging.getLogger("yihao.server")


def keep_heads(
    guard: TrustedHeadGuard | None,
    transparency: Transparency,
    health_servicer: health.HealthServicer,
    names: Sequence[str],
    check_seconds: float,
    stopped: threading.Event,
) -> None:
    """Before serving: compare the database with the head kept outside it (health of
    ``names`` and of the server follows the result), keep a fresh head if it is current, and
    check again every ``check_seconds``."""
    if guard is None:
        return

    def health_follows(current: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if current
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        for name in [*names, ""]:
            health_servicer.set(name, status)

    guard.on_change(health_follows)
    if guard.check():
        try:
            transparency.tree_head(fresh=True)
        except Exception:
            log.exception("could not sign a tree head at start")
    every(check_seconds, guard.check, stopped)


def housekeeping(
    assistance: AssistanceService | None,
    transparency: Transparency,
    guard: TrustedHeadGuard | None,
    *,
    commitment_check_seconds: float,
    tree_head_seconds: float,
    reseal: Callable[[], object],
    stopped: threading.Event,
    pull: tuple[float, Callable[[], object]] | None = None,
) -> None:
    """One process's periodic upkeep: notification-commitment checks, a signed tree head
    every ``tree_head_seconds`` (never over a log behind the trusted head), ``reseal``
    once soon after start, and ``pull`` — (seconds, task): asking peer regions about the
    requests forwarded to them — when this region federates its assistance."""
    if assistance is not None:
        every(commitment_check_seconds, assistance.check_commitments, stopped)
    if pull is not None:
        every(pull[0], pull[1], stopped)

    def sign_head() -> None:
        if guard is None or guard.behind is None:  # never a head over a rolled-back log
            transparency.tree_head(fresh=True)

    every(tree_head_seconds, sign_head, stopped)
    once_soon(reseal)


def every(seconds: float, task: Callable[[], object], stopped: threading.Event) -> None:
    """Run ``task`` every ``seconds`` in a daemon thread until ``stopped`` (errors logged)."""

    def loop() -> None:
        name_this_thread()
        while not stopped.wait(seconds):
            try:
                task()
            except Exception:
                log.exception("scheduled task %s failed", getattr(task, "__name__", task))

    threading.Thread(target=loop, name="scheduler", daemon=True).start()


def once_soon(task: Callable[[], object]) -> None:
    """Run ``task`` once in a daemon thread (errors logged): start-up housekeeping."""

    def run() -> None:
        name_this_thread()
        try:
            task()
        except Exception:
            log.exception("start-up task failed")

    threading.Thread(target=run, name="housekeeping", daemon=True).start()
