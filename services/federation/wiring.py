"""Wiring a region into a federation: the forwarder the verifier uses, and the federation
listener peers call (its own port, its own mutual TLS: peers' CAs only, never departments')."""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2

from services.assistance.service import AssistanceService
from services.common.clock import Clock
from services.common.database import Database
from services.common.holder_vault import HolderVault
from services.common.interceptors import (
    DeadlineInterceptor,
    ErrorInterceptor,
    MetricsInterceptor,
    RefusalInterceptor,
)
from services.common.limits import MAX_MESSAGE_BYTES
from services.common.listening import listen as listen_on
from services.common.metrics import NO_METRICS, Metrics
from services.common.ratelimit import RateLimiter
from services.common.thread_names import name_this_thread
from services.federation.assistance_client import PeerAssistance
from services.federation.breaker import BreakerState
from services.federation.config import FederationConfig, load_federation
from services.federation.forwarder import Forwarder
from services.federation.replay import SeenAssertions
from services.federation.servicer import FederationServicer, RegionInterceptor
from services.verifier.service import VerifierService
from yihao.v1 import federation_pb2_grpc as fpb_grpc

#: Health service name of a peer region's circuit: SERVING unless the circuit is open.
PEER_HEALTH = "yihao.federation.peer.{region}"


class Federation:
    """This region's part in a federation: forwarding out, answering in."""

    def __init__(
        self,
        config: FederationConfig,
        verifier: VerifierService,
        clock: Clock,
        metrics: Metrics = NO_METRICS,
        *,
        db: Database,
        limiter: RateLimiter,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.forwarder = Forwarder(
            config, verifier.receipt_keys.signing_key, clock, metrics, limiter
        )
        self.servicer = FederationServicer(
            config, verifier, clock, seen=SeenAssertions(db), limiter=limiter, metrics=metrics
        )
        #: The requesting side of assistance across regions (None: assistance not served).
        self.assistance: PeerAssistance | None = None

    def serve_assistance(
        self, assistance: AssistanceService, db: Database, vault: HolderVault, clock: Clock
    ) -> None:
        """Assistance across regions: answer peers' departments with ``assistance``, and
        forward this region's departments' requests to peers' items (:attr:`assistance`)."""
        self.servicer.assistance = assistance
        self.assistance = PeerAssistance(self.forwarder, db, vault, clock)

    def watch_health(self, servicer: health.HealthServicer) -> None:
        """Publish each peer's circuit as a health status (NOT_SERVING while open)."""

        def publish(region: str, state: BreakerState) -> None:
            status = (
                health_pb2.HealthCheckResponse.NOT_SERVING
                if state is BreakerState.OPEN
                else health_pb2.HealthCheckResponse.SERVING
            )
            servicer.set(PEER_HEALTH.format(region=region), status)

        self.forwarder.watch(publish)

    def build_server(
        self,
        max_workers: int = 8,
        listen: str | None = None,
        refuse: Callable[[], None] | None = None,
        *,
        reuse_port: bool = False,
    ) -> tuple[grpc.Server, int]:
        """The federation listener (not started): (server, bound port). ``refuse``: raises
        while the server fails closed (a log behind its kept head): peers are refused too.
        ``reuse_port``: every worker process binds the same port (SO_REUSEPORT), as for the
        departments' port; what must be shared between them (accepted assertions) is in the
        database, rate limits in Redis when configured."""
        interceptors: list[grpc.ServerInterceptor] = [  # type: ignore[type-arg]
            *([MetricsInterceptor(self.metrics)] if self.metrics is not NO_METRICS else []),
            ErrorInterceptor(),
            DeadlineInterceptor(),
            *([RefusalInterceptor(refuse)] if refuse is not None else []),
            RegionInterceptor(self.config),
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=max_workers,
                thread_name_prefix="federation",
                initializer=name_this_thread,
            ),
            interceptors=interceptors,
            options=[
                ("grpc.so_reuseport", 1 if reuse_port else 0),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        fpb_grpc.add_FederationServicer_to_server(self.servicer, server)
        credentials = grpc.ssl_server_credentials(
            [(self.config.key_pem, self.config.cert_pem)],
            root_certificates=b"".join(p.ca_pem for p in self.config.peers.values()),
            require_client_auth=True,
        )
        address = listen or self.config.listen
        port = listen_on(server, address, credentials, 'the federation file\'s "listen"')
        return server, port

    def close(self) -> None:
        """Close the channels to peers."""
        self.forwarder.close()


def federation_for(
    path: object,
    verifier: VerifierService,
    clock: Clock,
    metrics: Metrics = NO_METRICS,
    *,
    db: Database,
    limiter: RateLimiter,
) -> Federation | None:
    """The federation configured in the file at ``path`` (None: no federation)."""
    from pathlib import Path

    if path is None:
        return None
    config = load_federation(Path(str(path)))
    return Federation(config, verifier, clock, metrics, db=db, limiter=limiter)
