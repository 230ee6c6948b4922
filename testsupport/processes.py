"""Real PostgreSQL and Redis servers, started on free loopback ports for one test session."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path | None:
    """The directory holding initdb/pg_ctl/postgres, if PostgreSQL is installed.

    ``YIHAO_PG_BIN`` names that directory explicitly (to pick one of several installed
    versions); when set, it is the only place looked.
    """
    chosen = os.environ.get("YIHAO_PG_BIN")
    candidates = (
        [chosen] if chosen else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    )
    for d in candidates:
        if Path(d, "initdb").exists() and Path(d, "postgres").exists():
            return Path(d)
    found = None if chosen else shutil.which("initdb")
    return Path(found).parent if found else None


def redis_bin() -> Path | None:
    """The redis-server binary on ``PATH``, if installed."""
    found = shutil.which("redis-server")
    return Path(found) if found else None


def chromium_bin() -> Path | None:
    """Debian's Chromium on ``PATH`` (``YIHAO_CHROMIUM`` names another binary), if installed."""
    chosen = os.environ.get("YIHAO_CHROMIUM")
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    found = shutil.which("chromium")
    return Path(found) if found else None


def _as_postgres_user() -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, so drop to the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"]
    return []


class PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1: throw-away, or kept in ``directory`` (created, or
    started again on the data of an earlier run)."""

    def __init__(self, *, durable: bool = False, directory: Path | None = None) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        self.bindir = bindir
        self.durable = durable
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory or Path(tempfile.mkdtemp(prefix="yihao-pg-"))
        self.port = free_port()
        self.data = self.dir / "data"

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*_as_postgres_user(), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> PostgresServer:
        """initdb (first time) and start; returns when it accepts connections."""
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        if not self.data.exists():
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            )
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        fast = (
            ""
            if self.durable
            else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} "
            f"-c max_connections=200 -c shared_buffers=128MB{fast}"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._wait()

    def _wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def dsn(self, database: str) -> str:
        """A libpq connection string."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(
        self, name: str, template: str = "template0", *, exist_ok: bool = False
    ) -> str:
        """Create a database (optionally as a copy of a template); its SQLAlchemy URL."""
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not (exist_ok and found):
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (the data directory stays until :meth:`cleanup`)."""
        subprocess.run(
            [
                *_as_postgres_user(),
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                mode,
                "-w",
                "stop",
            ],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self._pg_ctl_start()

    def cleanup(self) -> None:
        """Stop and delete everything."""
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """A throw-away Redis server on 127.0.0.1 (no persistence)."""

    def __init__(self) -> None:
        binary = redis_bin()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (SIGKILL: it goes away as in a crash)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        """Start again on the same port (empty: nothing is persisted)."""
        self.stop()
        self.start()
