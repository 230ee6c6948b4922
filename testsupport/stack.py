"""A served Yihao stack for tests and benchmarks: app + gRPC server on a free port + clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.app import App, build_app
from services.bootstrap import load_demo_catalogue
from services.common.clock import Clock
from services.common.config import Settings, TlsFiles
from services.common.pki import DevPki, init_dev_pki
from services.licence_store import demo
from services.server import build_server
from services.tracing import Tracing
from yihao.v1 import (
    assistance_pb2_grpc,
    common_pb2_grpc,
    licence_store_pb2_grpc,
    verifier_pb2_grpc,
)


def dev_pki(directory: Path) -> DevPki:
    """A development PKI with a certificate for every demo department."""
    return init_dev_pki(directory, [(d.credit_code, d.name) for d in demo.DEPARTMENTS])


def settings_for(database_url: str, var_dir: Path, pki: DevPki, **overrides: Any) -> Settings:
    """Settings for a test process on ``database_url`` with the given PKI."""
    tls = TlsFiles(ca=pki.ca_cert(), cert=pki.server_cert(), key=pki.server_key())
    base = Settings(
        var_dir=var_dir,
        database_url=database_url,
        listen="127.0.0.1:0",
        tls=tls,
        master_key_file=var_dir / "keys" / "master.json",
        max_workers=16,
        grace_seconds=1.0,
    )
    return base.with_overrides(**overrides)


@dataclass
class Stack:
    """One running server and channels to it, one per calling department."""

    app: App
    server: grpc.Server
    port: int
    pki: DevPki
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def credentials(self, alias: str) -> grpc.ChannelCredentials:
        code = demo.code_of(alias)
        return grpc.ssl_channel_credentials(
            self.pki.ca_cert().read_bytes(),
            self.pki.client_key(code).read_bytes(),
            self.pki.client_cert(code).read_bytes(),
        )

    def channel(self, alias: str) -> grpc.Channel:
        """A (cached) mutual-TLS channel as department ``alias``."""
        if alias not in self._channels:
            self._channels[alias] = grpc.secure_channel(self.address, self.credentials(alias))
        return self._channels[alias]

    def store(self, alias: str) -> licence_store_pb2_grpc.LicenceStoreStub:
        return licence_store_pb2_grpc.LicenceStoreStub(self.channel(alias))

    def verifier(self, alias: str) -> verifier_pb2_grpc.VerifierStub:
        return verifier_pb2_grpc.VerifierStub(self.channel(alias))

    def assistance(self, alias: str) -> assistance_pb2_grpc.AssistanceStub:
        return assistance_pb2_grpc.AssistanceStub(self.channel(alias))

    def diagnostics(self, alias: str) -> common_pb2_grpc.DiagnosticsStub:
        return common_pb2_grpc.DiagnosticsStub(self.channel(alias))

    def stop(self) -> None:
        for ch in self._channels.values():
            ch.close()
        self.server.stop(0).wait()
        self.app.close()


def start_stack(
    settings: Settings,
    pki: DevPki,
    *,
    clock: Clock | None = None,
    demo_catalogue: bool = True,
    tracing: Tracing | None = None,
) -> Stack:
    """Build the app, load the demo catalogue, start serving on a free port."""
    app = build_app(settings, clock=clock, tracing=tracing)
    if demo_catalogue:
        load_demo_catalogue(app)
    server, port, _health = build_server(app)
    server.start()
    return Stack(app=app, server=server, port=port, pki=pki)
