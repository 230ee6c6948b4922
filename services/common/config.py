"""The one configuration module: the environment, read once into typed settings.

Backends are chosen here and nowhere else: ``DATABASE_URL`` picks SQLite (default, a file under
``./var/``) or PostgreSQL; ``REDIS_URL`` switches shared state (cache invalidation, rate limits,
idempotency) from in-process to Redis; the TLS files default to the generated development PKI.

Every variable the product reads is listed in :data:`ENVIRONMENT`, so deployment manifests
can be checked against it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from services.common.errors import InvalidArgument
from yihao_shared.environment import (
    CLIENT_ENVIRONMENT,
    DEFAULT_ADDRESS,
    DEFAULT_VAR_DIR,
    WEB_ENVIRONMENT,
)
from yihao_shared.environment import KNOWN_SERVICES as KNOWN_SERVICES

#: Every environment variable Yihao reads, with what it means.
ENVIRONMENT: dict[str, str] = {
    **CLIENT_ENVIRONMENT,  # YIHAO_ADDRESS, YIHAO_AS, YIHAO_DEBUG, YIHAO_VAR_DIR
    **WEB_ENVIRONMENT,  # YIHAO_WEB_*: the web desk (clients/web)
    "DATABASE_URL": "SQLAlchemy URL; sqlite:///<var>/yihao.db by default, "
    "postgresql+psycopg://user:pw@host/db in production",
    "REDIS_URL": "redis://host:port/db for shared state; unset = in-process",
    "YIHAO_LISTEN": f"host:port the server binds; {DEFAULT_ADDRESS}",
    "YIHAO_SERVICES": "comma-separated services to host: licence_store,verifier,assistance; all",
    "YIHAO_TLS_CA": "CA certificate that client certificates must chain to; dev PKI's ca.crt",
    "YIHAO_TLS_CERT": "server certificate; dev PKI's server.crt",
    "YIHAO_TLS_KEY": "server private key; dev PKI's server.key",
    "YIHAO_MASTER_KEYS": "inline JSON key ring for sealing secrets at rest (overrides the file)",
    "YIHAO_MASTER_KEY_FILE": "key ring file; <var>/keys/master.json (created in development)",
    "YIHAO_MAX_WORKERS": "gRPC handler threads per process; 16",
    "YIHAO_MAX_ACTIVE_CALLS": "unary calls running at once per process (others wait their "
    "turn); 0 = no limit",
    "YIHAO_GRACE_SECONDS": "how long in-flight calls may finish on SIGTERM; 10",
    "YIHAO_LOG_LEVEL": "logging level; INFO",
    "YIHAO_METRICS_LISTEN": "host:port of the Prometheus /metrics endpoint (its own HTTP "
    "port); unset = no metrics at all (make run uses 127.0.0.1:9464)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "OTLP/gRPC collector for traces (e.g. http://collector:4317; "
    "the other OTEL_EXPORTER_OTLP_* variables apply too); unset = no tracing at all",
    "YIHAO_LOG_FORMAT": "log lines as text, or json (one object per line with timestamp, "
    "level, logger, message, trace/correlation ids, department); text",
    "YIHAO_DB_POOL_SIZE": "database connections per process (PostgreSQL); 10",
    "YIHAO_SQLITE_CACHE_MB": "page cache of each SQLite connection, in MiB (it fills only as "
    "pages are read); 64",
    "YIHAO_RATE_LIMITS": 'per-department limits, JSON {"kind": [per_second, burst]}; defaults',
    "YIHAO_MISMATCH_BUDGET": "MISMATCH holder-match answers a department gets per licence and "
    "per holder per day before holder matching is refused; 10",
    "YIHAO_LOOKUP_MISS_BUDGET": "lookups by a person's ID number that find nothing a "
    "department gets per day before such lookups are refused; 200",
    "YIHAO_CONSENT_MAX_DAYS": "the longest a holder's consent grant may last, in days; 90",
    "YIHAO_TREE_HEAD_SECONDS": "how often the tamper-evident log's tree head is signed; 60",
    "YIHAO_TRUSTED_HEAD_FILE": "where the server keeps the largest signed tree head it has seen, "
    "outside the database (a database whose log is behind it is refused); "
    "<var>/trusted-head.json; off = not kept",
    "YIHAO_TRUSTED_HEAD_CHECK_SECONDS": "how often the database's log is compared with the "
    "kept head; 5",
    "YIHAO_CALENDAR_FILE": "JSON holidays/workdays for years chinese-calendar does not cover",
    "YIHAO_COMMITMENT_CHECK_SECONDS": "how often commitments are checked against the store; 3600",
    "YIHAO_FEDERATION_FILE": "federation configuration (JSON: this region, its federation "
    "listener and certificate, peer regions; docs/federation.md); unset = no federation",
    "YIHAO_FEDERATION_PULL_SECONDS": "how often the requests forwarded to other regions that "
    "are still pending are asked about, so their decisions are recorded here; 60",
}


@dataclass(frozen=True)
class TlsFiles:
    """Where the server's TLS material lives."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Settings:
    """Typed settings for one Yihao process."""

    var_dir: Path = DEFAULT_VAR_DIR
    database_url: str = ""
    redis_url: str | None = None
    listen: str = DEFAULT_ADDRESS
    services: tuple[str, ...] = ("licence_store", "verifier", "assistance")
    tls: TlsFiles | None = None
    master_keys_json: str | None = None
    master_key_file: Path | None = None
    max_workers: int = 16
    max_active_calls: int = 0  # unary calls running at once; 0: no limit
    grace_seconds: float = 10.0
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_listen: str | None = None  # host:port of /metrics; None: metrics off
    otlp_endpoint: str | None = None  # OTLP collector for traces; None: tracing off
    db_pool_size: int = 10
    sqlite_cache_mb: int = 64
    calendar_file: Path | None = None
    rate_limits_json: str | None = None
    commitment_check_seconds: int = 3600
    tree_head_seconds: int = 60
    trusted_head_file: Path | None = None  # None: no head kept outside the database
    trusted_head_check_seconds: int = 5
    mismatch_budget: int = 10
    lookup_miss_budget: int = 200
    federation_file: Path | None = None  # None: one region alone, nothing forwarded
    federation_pull_seconds: int = 60
    consent_max_days: int = 90
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def pki_dir(self) -> Path:
        """The development PKI directory."""
        return self.var_dir / "pki"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite default."""
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some settings replaced (tests and the CLI use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument.field(name, f"must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise InvalidArgument.field(name, f"must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The value of ``name`` (case-insensitive), one of ``choices``; the first by default."""
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise InvalidArgument.field(name, f"must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _services(raw: str | None) -> tuple[str, ...]:
    if not raw or raw == "all":
        return KNOWN_SERVICES
    names = tuple(s.strip() for s in raw.split(",") if s.strip())
    unknown = [n for n in names if n not in KNOWN_SERVICES]
    if unknown:
        raise InvalidArgument.field(
            "YIHAO_SERVICES", f"unknown service(s) {unknown}; known: {', '.join(KNOWN_SERVICES)}"
        )
    return names


def _tls(env: Mapping[str, str], pki_dir: Path) -> TlsFiles:
    return TlsFiles(
        ca=Path(env.get("YIHAO_TLS_CA") or pki_dir / "ca.crt"),
        cert=Path(env.get("YIHAO_TLS_CERT") or pki_dir / "server.crt"),
        key=Path(env.get("YIHAO_TLS_KEY") or pki_dir / "server.key"),
    )


def _trusted_head_file(env: Mapping[str, str], var_dir: Path) -> Path | None:
    raw = (env.get("YIHAO_TRUSTED_HEAD_FILE") or "").strip()
    if raw.lower() == "off":
        return None
    return Path(raw) if raw else var_dir / "trusted-head.json"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("YIHAO_VAR_DIR") or DEFAULT_VAR_DIR)
    database_url = env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'yihao.db'}"
    key_file = env.get("YIHAO_MASTER_KEY_FILE")
    return Settings(
        var_dir=var_dir,
        database_url=database_url,
        redis_url=env.get("REDIS_URL") or None,
        listen=env.get("YIHAO_LISTEN") or DEFAULT_ADDRESS,
        services=_services(env.get("YIHAO_SERVICES")),
        tls=_tls(env, var_dir / "pki"),
        master_keys_json=env.get("YIHAO_MASTER_KEYS") or None,
        master_key_file=Path(key_file) if key_file else var_dir / "keys" / "master.json",
        max_workers=_int(env, "YIHAO_MAX_WORKERS", 16, 1, 1024),
        max_active_calls=_int(env, "YIHAO_MAX_ACTIVE_CALLS", 0, 0, 1024),
        grace_seconds=float(_int(env, "YIHAO_GRACE_SECONDS", 10, 0, 3600)),
        log_level=(env.get("YIHAO_LOG_LEVEL") or "INFO").upper(),
        metrics_listen=env.get("YIHAO_METRICS_LISTEN") or None,
        otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        log_format=_choice(env, "YIHAO_LOG_FORMAT", ("text", "json")),
        db_pool_size=_int(env, "YIHAO_DB_POOL_SIZE", 10, 1, 500),
        sqlite_cache_mb=_int(env, "YIHAO_SQLITE_CACHE_MB", 64, 1, 65536),
        calendar_file=Path(env["YIHAO_CALENDAR_FILE"]) if env.get("YIHAO_CALENDAR_FILE") else None,
        rate_limits_json=env.get("YIHAO_RATE_LIMITS") or None,
        tree_head_seconds=_int(env, "YIHAO_TREE_HEAD_SECONDS", 60, 1, 86400),
        trusted_head_file=_trusted_head_file(env, var_dir),
        trusted_head_check_seconds=_int(env, "YIHAO_TRUSTED_HEAD_CHECK_SECONDS", 5, 1, 3600),
        mismatch_budget=_int(env, "YIHAO_MISMATCH_BUDGET", 10, 1, 100_000),
        lookup_miss_budget=_int(env, "YIHAO_LOOKUP_MISS_BUDGET", 200, 1, 10_000_000),
        consent_max_days=_int(env, "YIHAO_CONSENT_MAX_DAYS", 90, 1, 3650),
        commitment_check_seconds=_int(env, "YIHAO_COMMITMENT_CHECK_SECONDS", 3600, 10, 86400),
        federation_file=Path(env["YIHAO_FEDERATION_FILE"])
        if env.get("YIHAO_FEDERATION_FILE")
        else None,
        federation_pull_seconds=_int(env, "YIHAO_FEDERATION_PULL_SECONDS", 60, 1, 86400),
    )
