"""A Yihao server in its own process, measured or driven from this one (benchmarks, fault tests).

The server runs as ``python -m services.server`` with settings from the environment, so what
is measured is the real process: TLS, interceptors, database. Server CPU per call comes from
the child's /proc counters, read before and after a measured run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.bootstrap import load_demo
from services.common.config import load_settings
from services.common.ratelimit import DEFAULT_LIMITS
from services.licence_store import demo
from testsupport.processes import PostgresServer, free_port
from testsupport.stack import dev_pki
from yihao.v1 import common_pb2_grpc, licence_store_pb2_grpc


@dataclass
class ServerProcess:
    """A running server child process and how to reach it."""

    proc: subprocess.Popen[bytes]
    port: int
    var_dir: Path

    def cpu_seconds(self) -> float:
        """User + system CPU the server has used so far: its process and, with several
        workers, the worker processes it started."""
        return tree_cpu_seconds(self.proc.pid)

    def channel(self, alias: str, *, own_connection: bool = False) -> grpc.Channel:
        return client_channel(self.var_dir, self.port, alias, own_connection=own_connection)

    def store(
        self, alias: str, *, own_connection: bool = False
    ) -> licence_store_pb2_grpc.LicenceStoreStub:
        return licence_store_pb2_grpc.LicenceStoreStub(
            self.channel(alias, own_connection=own_connection)
        )

    def diagnostics(self, alias: str) -> common_pb2_grpc.DiagnosticsStub:
        return common_pb2_grpc.DiagnosticsStub(self.channel(alias))


def client_channel(
    var_dir: Path, port: int, alias: str, *, own_connection: bool = False
) -> grpc.Channel:
    """An mTLS channel to a server on ``port`` as the demo department ``alias``, with the
    development PKI under ``var_dir`` (usable from any process: only files are needed).
    ``own_connection``: never share a TCP connection with other channels, so that parallel
    streams can reach different worker processes."""
    code = demo.code_of(alias)
    pki = var_dir / "pki"
    creds = grpc.ssl_channel_credentials(
        (pki / "ca.crt").read_bytes(),
        (pki / "clients" / f"{code}.key").read_bytes(),
        (pki / "clients" / f"{code}.crt").read_bytes(),
    )
    options = [("grpc.use_local_subchannel_pool", 1)] if own_connection else []
    return grpc.secure_channel(f"127.0.0.1:{port}", creds, options=options)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU used so far by process ``pid`` and its live children."""
    return sum(cpu_ticks(p) for p in [pid, *children(pid)]) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_ticks(pid: int) -> int:
    try:
        fields = _stat(pid)
    except OSError:  # exited meanwhile
        return 0
    return int(fields[11]) + int(fields[12])


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_healthy(server: ServerProcess, timeout: float = 60.0, *, serving: bool = True) -> None:
    """Wait until the server answers health checks: SERVING, or (``serving`` False) any status
    (a server failing closed answers NOT_SERVING)."""
    stub = health_pb2_grpc.HealthStub(server.channel("data"))
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING or not serving:
                return
        except grpc.RpcError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not become healthy")
        time.sleep(0.2)


@contextmanager
def server_process(
    database_url: str | None,
    *,
    log_file: Path | None = None,
    var_dir: Path | None = None,
    port: int | None = None,
    workers: int = 1,
    serving: bool = True,
    **env: str,
) -> Iterator[ServerProcess]:
    """A server on ``database_url`` (None: SQLite in ``var_dir``, a new temp dir by default)
    with the demo catalogue, as ``workers`` processes sharing the port. Pass the ``var_dir``
    (and ``port``) of an earlier server to start it again on the same data, keys and
    certificates. With ``serving`` False, a server answering health NOT_SERVING (failing
    closed) is waited for too. A temp dir made here is removed when the server stops."""
    made = var_dir is None
    var_dir = var_dir or Path(tempfile.mkdtemp(prefix="yihao-bench-"))
    dev_pki(var_dir / "pki")
    port = port or free_port()
    environment = {
        **os.environ,
        "YIHAO_VAR_DIR": str(var_dir),
        "YIHAO_LISTEN": f"127.0.0.1:{port}",
        "YIHAO_LOG_LEVEL": "WARNING",
        # Benchmarks and fault tests measure the server, not the rate limiter or the daily
        # budget of lookups that find nothing (unless asked).
        "YIHAO_RATE_LIMITS": json.dumps({k: [1e6, 10**6] for k in DEFAULT_LIMITS}),
        "YIHAO_LOOKUP_MISS_BUDGET": "10000000",
        **({"DATABASE_URL": database_url} if database_url else {}),
        **env,
    }
    load_demo(load_settings(environment))
    log = log_file.open("wb") if log_file else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.server", "--workers", str(workers)],
        env=environment,
        stdout=log or subprocess.DEVNULL,
        stderr=log,
    )
    server = ServerProcess(proc, port, var_dir)
    try:
        _wait_healthy(server, serving=serving)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
        if log:
            log.close()
        if made:
            shutil.rmtree(var_dir, ignore_errors=True)


@contextmanager
def backend(name: str) -> Iterator[str | None]:
    """A database URL for ``name`` ("sqlite" → None, the default file; "postgresql" → a
    durable PostgreSQL server started for the run)."""
    if name == "sqlite":
        yield None
        return
    pg = PostgresServer(durable=True).start()
    try:
        yield pg.create_database("bench")
    finally:
        pg.cleanup()
