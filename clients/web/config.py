"""The web desk's settings: the ``YIHAO_WEB_*`` environment (listed, with meanings, in
:data:`yihao_shared.environment.WEB_ENVIRONMENT`), read once into :class:`WebSettings`.

A bad value is refused with the variable's name and the rule (:class:`InvalidArgument`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from yihao_shared.environment import load_client_settings
from yihao_shared.errors import InvalidArgument

__all__ = ["DEFAULT_LISTEN", "WebSettings", "load_web_settings", "parse_listen"]

#: Where the desk listens by default (loopback: development).
DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True)
class WebSettings:
    """Everything the desk needs to run; tests build one directly.

    ``departments`` are the aliases or credit codes the desk hosts (empty: every department
    whose client certificate is in ``<var_dir>/pki``); ``address`` is the gRPC server's.
    """

    var_dir: Path = Path("var")
    address: str = "127.0.0.1:50051"
    listen: str = DEFAULT_LISTEN
    database_url: str = ""
    departments: tuple[str, ...] = ()
    idle_seconds: float = 30 * 60
    absolute_seconds: float = 10 * 3600
    lockout_failures: int = 5
    lockout_seconds: float = 15 * 60
    address_failures: int = 20
    secure_cookies: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    dev: bool = False
    grpc_timeout: float = 10.0
    max_body_bytes: int = 64 * 1024 * 1024
    import_max_bytes: int = 20 * 1024 * 1024
    holder_portal: str = "portal"
    holder_idp_keys: Path | None = None
    holder_idp_issuer: str = ""
    holder_idp_url: str = ""
    holder_audience: str = "yihao-web"
    holder_qr_seconds: int = 90
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        """The desk database's URL (default: a SQLite file under ``var_dir``)."""
        return self.database_url or f"sqlite:///{self.var_dir / 'web.db'}"

    @property
    def tls(self) -> bool:
        """Whether the desk serves HTTPS itself."""
        return self.tls_cert is not None

    @property
    def cookie_secure(self) -> bool:
        """Whether cookies carry ``Secure`` (TLS here, or a TLS proxy declared in front)."""
        return self.secure_cookies or self.tls

    def with_overrides(self, **changes: Any) -> WebSettings:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def parse_listen(value: str, name: str = "YIHAO_WEB_LISTEN") -> tuple[str, int]:
    """``host:port`` → (host, port); refuses anything else naming ``name``."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument.field(name, f"{value!r} is not HOST:PORT (port 0-65535)")
    return host.strip("[]"), int(port)


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidArgument.field(name, f"{raw!r} is not a number") from None
    if value < minimum:
        raise InvalidArgument.field(name, f"must be at least {minimum:g}, got {raw}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise InvalidArgument.field(name, f"{raw!r} is not a flag (1/0, true/false, yes/no)")


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else None


def _import_max_bytes(env: Mapping[str, str]) -> int:
    """``YIHAO_WEB_IMPORT_MAX_BYTES``: a whole number of bytes, 1 up to the desk's request-body
    limit (a bigger file would be refused before the import could name the rule)."""
    name, default = "YIHAO_WEB_IMPORT_MAX_BYTES", WebSettings.import_max_bytes
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise InvalidArgument.field(name, f"{raw!r} is not a whole number of bytes")
    value, limit = int(raw), WebSettings.max_body_bytes
    if not 1 <= value <= limit:
        raise InvalidArgument.field(
            name, f"must be between 1 and {limit} (the desk's request-body limit), got {raw}"
        )
    return value


def _idp_url(env: Mapping[str, str]) -> str:
    """``YIHAO_WEB_HOLDER_IDP_URL``: where a holder's sign-in is sent — an https URL (http only
    to a loopback host, for development), without a fragment."""
    name = "YIHAO_WEB_HOLDER_IDP_URL"
    raw = env.get(name, "").strip()
    if not raw:
        return ""
    url = urlsplit(raw)
    loopback = url.hostname in {"127.0.0.1", "localhost", "::1"}
    if url.scheme not in {"https", "http"} or not url.hostname:
        raise InvalidArgument.field(name, f"{raw!r} is not an absolute https URL")
    if url.scheme == "http" and not loopback:
        raise InvalidArgument.field(name, "must be https (http only to a loopback host)")
    if url.fragment:
        raise InvalidArgument.field(name, "must not have a fragment (#…)")
    return raw


def load_web_settings(env: Mapping[str, str] | None = None) -> WebSettings:
    """Read the desk's settings from ``env`` (default: the process environment, now)."""
    env = os.environ if env is None else env
    client = load_client_settings(env)
    listen = env.get("YIHAO_WEB_LISTEN", "").strip() or DEFAULT_LISTEN
    parse_listen(listen)
    departments = tuple(
        d.strip() for d in env.get("YIHAO_WEB_DEPARTMENTS", "").split(",") if d.strip()
    )
    settings = WebSettings(
        var_dir=client.var_dir,
        address=client.address,
        listen=listen,
        database_url=env.get("YIHAO_WEB_DATABASE_URL", "").strip(),
        departments=departments,
        idle_seconds=60 * _number(env, "YIHAO_WEB_IDLE_MINUTES", 30, 1),
        absolute_seconds=3600 * _number(env, "YIHAO_WEB_SESSION_HOURS", 10, 0.1),
        lockout_failures=int(_number(env, "YIHAO_WEB_LOCKOUT_FAILURES", 5, 1)),
        lockout_seconds=60 * _number(env, "YIHAO_WEB_LOCKOUT_MINUTES", 15, 1),
        address_failures=int(_number(env, "YIHAO_WEB_ADDRESS_FAILURES", 20, 1)),
        secure_cookies=_flag(env, "YIHAO_WEB_SECURE_COOKIES"),
        tls_cert=_path(env, "YIHAO_WEB_TLS_CERT"),
        tls_key=_path(env, "YIHAO_WEB_TLS_KEY"),
        dev=_flag(env, "YIHAO_WEB_DEV"),
        holder_portal=env.get("YIHAO_WEB_HOLDER_PORTAL", "").strip() or "portal",
        holder_idp_keys=_path(env, "YIHAO_WEB_HOLDER_IDP_KEYS"),
        holder_idp_issuer=env.get("YIHAO_WEB_HOLDER_IDP_ISSUER", "").strip(),
        holder_idp_url=_idp_url(env),
        holder_audience=env.get("YIHAO_WEB_HOLDER_AUDIENCE", "").strip() or "yihao-web",
        holder_qr_seconds=int(_number(env, "YIHAO_WEB_HOLDER_QR_SECONDS", 90, 30)),
        import_max_bytes=_import_max_bytes(env),
    )
    if settings.holder_qr_seconds > 120:
        raise InvalidArgument.field("YIHAO_WEB_HOLDER_QR_SECONDS", "must be at most 120")
    idp = {
        "YIHAO_WEB_HOLDER_IDP_KEYS": settings.holder_idp_keys,
        "YIHAO_WEB_HOLDER_IDP_ISSUER": settings.holder_idp_issuer,
        "YIHAO_WEB_HOLDER_IDP_URL": settings.holder_idp_url,
    }
    if any(idp.values()) and not all(idp.values()):
        raise InvalidArgument.field(
            next(name for name, value in idp.items() if not value),
            "YIHAO_WEB_HOLDER_IDP_KEYS, YIHAO_WEB_HOLDER_IDP_ISSUER and YIHAO_WEB_HOLDER_IDP_URL "
            "go together",
        )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise InvalidArgument.field(
            "YIHAO_WEB_TLS_KEY", "YIHAO_WEB_TLS_CERT and YIHAO_WEB_TLS_KEY go together"
        )
    return settings
