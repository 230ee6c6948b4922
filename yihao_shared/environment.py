"""The command line's settings: the environment variables a client reads, read in one place.

The server's registry (:data:`services.common.config.ENVIRONMENT`) lists these too, so every
variable Yihao reads is named in one table; the client reads them here because it installs
without the server. :data:`DEFAULT_ADDRESS` is both where the server listens and where the
client calls, unless told otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CLIENT_ENVIRONMENT",
    "DEFAULT_ADDRESS",
    "DEFAULT_AS",
    "DEFAULT_VAR_DIR",
    "KNOWN_SERVICES",
    "WEB_ENVIRONMENT",
    "ClientSettings",
    "load_client_settings",
]

#: Where the server listens and the client calls by default (loopback: development).
DEFAULT_ADDRESS = "127.0.0.1:50051"
#: The department the command line acts as unless told otherwise (the demo data office).
DEFAULT_AS = "data"
#: The services a server process can host (``yihao serve --service``, ``YIHAO_SERVICES``).
KNOWN_SERVICES = ("licence_store", "verifier", "assistance")
#: The directory of the embedded defaults (SQLite file, development PKI, keys).
DEFAULT_VAR_DIR = Path("var")

#: Every environment variable the client reads, with what it means.
CLIENT_ENVIRONMENT: dict[str, str] = {
    "YIHAO_ADDRESS": f"for the client: the server's host:port; {DEFAULT_ADDRESS}",
    "YIHAO_AS": f"for the command line: the department to act as (alias or credit code); "
    f"{DEFAULT_AS}",
    "YIHAO_DEBUG": "for the command line: any non-empty value shows the traceback of an "
    "unexpected failure",
    "YIHAO_VAR_DIR": "directory for the embedded defaults (SQLite file, dev PKI, keys); ./var",
}

#: Every environment variable the web desk (``yihao web``, clients/web) reads; read by
#: :mod:`clients.web.config`.
WEB_ENVIRONMENT: dict[str, str] = {
    "YIHAO_WEB_LISTEN": "for the web desk: host:port it binds; 127.0.0.1:8080",
    "YIHAO_WEB_DATABASE_URL": "for the web desk: SQLAlchemy URL of its own database (staff "
    "accounts, sessions, sign-in records); sqlite:///<var>/web.db",
    "YIHAO_WEB_DEPARTMENTS": "for the web desk: comma-separated departments it hosts (aliases "
    "or credit codes; their client certificates are in <var>/pki); every department with a "
    "certificate",
    "YIHAO_WEB_IDLE_MINUTES": "for the web desk: a session ends after this long unused; 30",
    "YIHAO_WEB_SESSION_HOURS": "for the web desk: a session ends this long after sign-in, "
    "however busy; 10",
    "YIHAO_WEB_LOCKOUT_FAILURES": "for the web desk: failed sign-ins of an account that lock it; 5",
    "YIHAO_WEB_LOCKOUT_MINUTES": "for the web desk: how long a lock lasts, and the window "
    "failures are counted in; 15",
    "YIHAO_WEB_ADDRESS_FAILURES": "for the web desk: failed sign-ins from one client address "
    "in the lockout window before that address is refused; 20",
    "YIHAO_WEB_SECURE_COOKIES": "for the web desk: 1 marks cookies Secure (set it when a "
    "TLS proxy is in front; automatic when the desk serves TLS itself); 0",
    "YIHAO_WEB_TLS_CERT": "for the web desk: certificate to serve HTTPS with (PEM); unset = "
    "plain HTTP (development, or TLS ended by a proxy)",
    "YIHAO_WEB_TLS_KEY": "for the web desk: the private key of YIHAO_WEB_TLS_CERT",
    "YIHAO_WEB_DEV": "for the web desk: 1 allows the demo accounts (`yihao web users demo`, "
    "make run), and the holder page's sign-in by a one-time code in the server log; never in "
    "production; 0",
    "YIHAO_WEB_HOLDER_PORTAL": "for the web desk: the holder portal department the holder page "
    "acts through (alias or credit code); portal",
    "YIHAO_WEB_HOLDER_IDP_KEYS": "for the web desk: JSON file of the portal identity provider's "
    "Ed25519 public keys (kid -> PEM) that sign holder sign-in assertions; unset = none accepted",
    "YIHAO_WEB_HOLDER_IDP_ISSUER": "for the web desk: the iss the holder sign-in assertions must "
    "carry (required with YIHAO_WEB_HOLDER_IDP_KEYS)",
    "YIHAO_WEB_HOLDER_IDP_URL": "for the web desk: the portal identity provider's sign-in "
    "address the desk sends a holder to, with a nonce (https; required with "
    "YIHAO_WEB_HOLDER_IDP_KEYS)",
    "YIHAO_WEB_HOLDER_AUDIENCE": "for the web desk: the aud the holder sign-in assertions must "
    "name; yihao-web",
    "YIHAO_WEB_HOLDER_QR_SECONDS": "for the web desk: how long a 亮证 QR code on the holder page "
    "is valid (30-120; refreshed at two thirds of it); 90",
    "YIHAO_WEB_IMPORT_MAX_BYTES": "for the web desk: the largest file the operator desk's bulk "
    "import takes, in bytes (1 up to 67108864, the desk's request-body limit); 20971520 (20 MiB)",
}


@dataclass(frozen=True)
class ClientSettings:
    """The client's settings, as read from the environment."""

    address: str = DEFAULT_ADDRESS
    as_department: str = DEFAULT_AS
    debug: bool = False
    var_dir: Path = DEFAULT_VAR_DIR


def load_client_settings(env: Mapping[str, str] | None = None) -> ClientSettings:
    """Read the client's settings from ``env`` (default: the process environment, now)."""
    env = os.environ if env is None else env
    return ClientSettings(
        address=env.get("YIHAO_ADDRESS") or DEFAULT_ADDRESS,
        as_department=env.get("YIHAO_AS") or DEFAULT_AS,
        debug=bool(env.get("YIHAO_DEBUG")),
        var_dir=Path(env.get("YIHAO_VAR_DIR") or DEFAULT_VAR_DIR),
    )
