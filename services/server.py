"""Process wiring: build the application from settings, serve it over gRPC with mutual TLS.

``build_app`` (:mod:`services.app`) makes the shared parts (database, key ring, clock,
services); ``build_server`` puts the servicers behind the interceptor chain on a port, with
health checking and reflection; ``serve`` runs until SIGTERM, then drains: health goes
NOT_SERVING, new calls are refused, in-flight calls get the grace period to finish.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services import background
from services.app import App, build_app, build_calendar, load_sealer
from services.assistance.grpc_servicer import AssistanceServicer
from services.common import heap, hot_path, listening, logmask
from services.common.config import Settings
from services.common.database import Database
from services.common.decoding import DecodingInterceptor
from services.common.errors import FailedPrecondition
from services.common.holder_vault import HolderVault
from services.common.interceptors import (
    AuthorisationInterceptor,
    ConcurrencyInterceptor,
    DeadlineInterceptor,
    ErrorInterceptor,
    IdentityInterceptor,
    MetricsInterceptor,
    RateLimitInterceptor,
    RefusalInterceptor,
    RequestTextInterceptor,
)
from services.common.limits import MAX_MESSAGE_BYTES
from services.common.metrics import NO_METRICS
from services.common.migrate import upgrade
from services.common.thread_names import name_this_thread
from services.diagnostics import DiagnosticsServicer
from services.licence_store.grpc_servicer import LicenceStoreServicer
from services.observability import (
    WorkerMetrics,
    metrics_for,
    serve_metrics_of,
)
from services.reseal import reseal_all
from services.tracing import tracing_for
from services.verifier.grpc_servicer import VerifierServicer
from services.verifier.grpc_servicer import add_to_server as add_verifier
from yihao.v1 import (
    assistance_pb2,
    assistance_pb2_grpc,
    common_pb2,
    common_pb2_grpc,
    licence_store_pb2,
    licence_store_pb2_grpc,
    verifier_pb2,
)

log = logging.getLogger("yihao.server")

DRAIN_MARGIN = 5.0
SIGNAL_POLL_SECONDS = 0.5


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise FailedPrecondition(
            f"cannot read the {what} {path}; run `yihao pki init` for development certificates",
            reason="TLS_FILES_MISSING",
        ) from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials:
    """Mutual TLS: the server's certificate, and client certificates required from the CA."""
    assert settings.tls is not None
    return grpc.ssl_server_credentials(
        [(_read(settings.tls.key, "server key"), _read(settings.tls.cert, "server certificate"))],
        root_certificates=_read(settings.tls.ca, "CA certificate"),
        require_client_auth=True,
    )


SERVICE_NAMES = {
    "licence_store": licence_store_pb2.DESCRIPTOR.services_by_name["LicenceStore"].full_name,
    "verifier": verifier_pb2.DESCRIPTOR.services_by_name["Verifier"].full_name,
    "assistance": assistance_pb2.DESCRIPTOR.services_by_name["Assistance"].full_name,
}


def build_server(
    app: App, *, listen: str | None = None, reuse_port: bool = False
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A started-ready (not yet started) server for ``app``: (server, bound port, health)."""
    settings = app.settings
    limit = settings.max_active_calls
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix="rpc", initializer=name_this_thread
        ),
        interceptors=[
            *([app.tracing.server_interceptor()] if app.tracing is not None else []),
            *([MetricsInterceptor(app.metrics)] if app.metrics is not NO_METRICS else []),
            ErrorInterceptor(),
            DecodingInterceptor(),
            *([RefusalInterceptor(app.guard.require_current)] if app.guard is not None else []),
            RequestTextInterceptor(),
            DeadlineInterceptor(),
            *([ConcurrencyInterceptor(limit)] if limit else []),
            IdentityInterceptor(app.read.cache.is_revoked),
            RateLimitInterceptor(app.limiter),
            AuthorisationInterceptor(app.read.cache.roles_of),
        ],
        options=[
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    names = [common_pb2.DESCRIPTOR.services_by_name["Diagnostics"].full_name]
    common_pb2_grpc.add_DiagnosticsServicer_to_server(DiagnosticsServicer(), server)
    if "licence_store" in settings.services:
        licence_store_pb2_grpc.add_LicenceStoreServicer_to_server(
            LicenceStoreServicer(app.store(), max_watchers=max(1, settings.max_workers // 4)),
            server,
        )
        names.append(SERVICE_NAMES["licence_store"])
    if "verifier" in settings.services:
        forwarder = app.federation.forwarder if app.federation is not None else None
        add_verifier(VerifierServicer(app.verifier, forwarder), server)
        names.append(SERVICE_NAMES["verifier"])
    if app.assistance is not None:
        assistance_pb2_grpc.add_AssistanceServicer_to_server(
            AssistanceServicer(
                app.assistance, app.federation.assistance if app.federation else None
            ),
            server,
        )
        names.append(SERVICE_NAMES["assistance"])
    health_servicer = _add_maintenance(server, names)
    if app.federation is not None:
        app.federation.watch_health(health_servicer)
    address = listen or settings.listen
    port = listening.listen(
        server, address, server_credentials(settings), "YIHAO_LISTEN or serve --listen"
    )
    return server, port, health_servicer


def _add_maintenance(server: grpc.Server, names: list[str]) -> health.HealthServicer:
    """Health checking (every hosted service, and "") and reflection."""
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in [*names, ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    return health_servicer


def serve(settings: Settings, *, workers: int = 1, banner: bool = True) -> None:
    """Run the server until SIGTERM or SIGINT, then shut down gracefully.

    With ``workers`` > 1, that many processes share the port (SO_REUSEPORT; the kernel
    spreads connections across them), each with its own database connections; the schema is
    migrated once first, and only the first runs the scheduled housekeeping.
    """
    logmask.install(settings.log_level, settings.log_format)
    if workers > 1:
        _serve_workers(settings, workers, banner)
        return
    _serve_one(settings, reuse_port=False, banner=banner, housekeeping=True)


def _serve_one(settings: Settings, *, reuse_port: bool, banner: bool, housekeeping: bool) -> None:
    log.info(hot_path.describe())  # compiled (mypyc) or pure Python: docs/benchmarks.md
    app = build_app(
        settings,
        migrate=not reuse_port,
        metrics=metrics_for(settings),
        tracing=tracing_for(settings),
    )
    server, port, health_servicer = build_server(app, reuse_port=reuse_port)
    # A worker records its metrics for the parent to serve; a single process serves its own.
    endpoint = (
        None
        if reuse_port
        else serve_metrics_of(settings.metrics_listen, app.metrics, app.db, app.calendar, app.clock)
    )
    stopped = threading.Event()
    background.keep_heads(
        app.guard,
        app.verifier.transparency,
        health_servicer,
        [SERVICE_NAMES[s] for s in settings.services if s in SERVICE_NAMES],
        settings.trusted_head_check_seconds,
        stopped,
    )
    # The federation listener: in every worker, sharing its port as the departments' one does.
    federation = (
        app.federation.build_server(
            max(4, settings.max_workers // 2),
            refuse=app.guard.require_current if app.guard is not None else None,
            reuse_port=reuse_port,
        )
        if app.federation is not None
        else None
    )
    heap.settle()  # no long collector pauses mid-call
    server.start()
    if federation is not None:
        federation[0].start()
    if banner:
        metrics_url = (
            f"http://{_host(settings.metrics_listen)}:{endpoint.port}/metrics" if endpoint else None
        )
        _print_banner(
            settings, port, [s for s in settings.services if s in SERVICE_NAMES], metrics_url
        )
    drained = threading.Event()
    if housekeeping:
        background.housekeeping(
            app.assistance,
            app.verifier.transparency,
            app.guard,
            commitment_check_seconds=settings.commitment_check_seconds,
            tree_head_seconds=settings.tree_head_seconds,
            reseal=lambda: reseal_all(app.db, app.vault, load_sealer(settings), app.clock.now()),
            stopped=stopped,
            pull=_pull(app),
        )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: draining for %.0f s", signum, settings.grace_seconds)
        health_servicer.enter_graceful_shutdown()
        if federation is not None:
            federation[0].stop(settings.grace_seconds)
        # grpcio 1.85 can fail to finish stopping after undecodable client-streaming calls:
        # wait for the grace period and a margin, then go anyway.
        if server.stop(settings.grace_seconds).wait(settings.grace_seconds + DRAIN_MARGIN):
            drained.set()
        else:
            log.warning("gRPC did not finish stopping; exiting without it")
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Wake now and then: a signal the kernel delivers to one of gRPC's threads only flags the
    # main thread, whose handler runs when it next wakes (an untimed wait never did: a
    # SIGTERMed server stayed up).
    while not stopped.wait(SIGNAL_POLL_SECONDS):
        pass
    if endpoint is not None:
        endpoint.close()
    app.close(last_head=True)
    log.info("stopped")
    if not drained.is_set():
        logging.shutdown()
        os._exit(0)  # stuck gRPC threads must not keep a stopped server alive


def _pull(app: App) -> tuple[float, Callable[[], object]] | None:
    """The periodic pull of forwarded requests' decisions, when assistance is federated."""
    peers = app.federation.assistance if app.federation is not None else None
    if peers is None:
        return None
    return float(app.settings.federation_pull_seconds), peers.pull_pending


def _worker(settings: Settings, index: int, banner: bool) -> None:
    logmask.install(settings.log_level, settings.log_format)
    _serve_one(settings, reuse_port=True, banner=banner and index == 0, housekeeping=index == 0)


def _serve_workers(settings: Settings, workers: int, banner: bool) -> None:
    """Run ``workers`` server processes on one port; forward SIGTERM/SIGINT; wait for all."""
    if settings.listen.endswith(":0"):
        raise FailedPrecondition(
            "several workers need a fixed port to share, not port 0", reason="LISTEN_PORT_ZERO"
        )
    db = Database.for_settings(settings)
    try:
        upgrade(db, vault=HolderVault(load_sealer(settings)))
    finally:
        db.dispose()
    metrics = WorkerMetrics(settings, build_calendar(settings)) if settings.metrics_listen else None
    if metrics is not None and banner:
        url = f"http://{_host(settings.metrics_listen)}:{metrics.endpoint.port}/metrics"
        print(f"Metrics (all {workers} workers): {url}", flush=True)
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_worker, args=(settings, i, banner), name=f"yihao-worker-{i}")
        for i in range(workers)
    ]
    for child in children:
        child.start()

    def _forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    for child in children:
        child.join()
        if metrics is not None and child.pid is not None:
            metrics.worker_exited(child.pid)
    if metrics is not None:
        metrics.close()
    log.info("all %d workers stopped", workers)


def _host(listen: str | None) -> str:
    host = (listen or "").rpartition(":")[0]
    return "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host


def _print_banner(
    settings: Settings, port: int, services: list[str], metrics_url: str | None = None
) -> None:
    host = settings.listen.rsplit(":", 1)[0]
    print(
        f"Yihao is serving {', '.join(services)} on {host}:{port} (mutual TLS).\n"
        f"Database: {settings.database_url}\n"
        + (f"Metrics: {metrics_url}\n" if metrics_url else "")
        + "Try it from another shell:\n"
        "  .venv/bin/yihao --as market types list\n"
        "  .venv/bin/yihao --as market issue --type 11100000000013338W011 \\\n"
        "      --number 350100-2026-0001 \\\n"
        "      --holder 91350100M000100Y43 --holder-name 福州示例科技有限公司 \\\n"
        "      --field legal_representative=王芳 --field company_type=有限责任公司 \\\n"
        "      --field registered_capital=500 --field established_on=2020-05-22 \\\n"
        "      --field address=福州市鼓楼区五四路1号 --field business_scope=软件开发\n"
        "  .venv/bin/yihao --as hall verify 11100000000013338W011:350100-2026-0001 \\\n"
        "      --holder 91350100M000100Y43\n"
        "See README.md and docs/verification.md for the whole walk-through.\n"
        "Stop with Ctrl-C.",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    """``python -m services.server [--workers N]``: serve with settings from the environment."""
    import argparse

    from services.common.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m services.server", description=main.__doc__)
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    serve(load_settings(), workers=args.workers)


if __name__ == "__main__":
    main()
