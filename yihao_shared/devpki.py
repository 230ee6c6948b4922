"""Where the files of a development PKI live: the client finds its certificate here.

``yihao pki init`` (the server's :func:`services.common.pki.init_dev_pki`) makes them::

    ca.crt, ca.key                       self-signed CA
    server.crt, server.key               the server's certificate and key
    clients/<credit_code>.crt, .key      a department's client certificate and key

Only the layout lives here (plain paths, no cryptography), so the client installs without it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from yihao_shared.errors import InvalidArgument

__all__ = ["DevPki", "check_credit_code"]

# Loose on purpose (test codes are not real ones); it only has to be safe as a file name.
_CREDIT_CODE_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")


def check_credit_code(credit_code: str) -> None:
    """Refuse a credit code that cannot name a certificate file (``InvalidArgument``)."""
    if not _CREDIT_CODE_RE.fullmatch(credit_code):
        raise InvalidArgument.field(
            "credit_code",
            "must be 1-64 letters, digits, '-' or '_', starting with a letter or digit",
            reason="INVALID_CREDIT_CODE",
        )


@dataclass(frozen=True)
class DevPki:
    """Where the files of a development PKI live (see the module docstring for the layout)."""

    directory: Path

    def ca_cert(self) -> Path:
        """The CA certificate (the trust root for both servers and clients)."""
        return self.directory / "ca.crt"

    def ca_key(self) -> Path:
        """The CA private key."""
        return self.directory / "ca.key"

    def server_cert(self) -> Path:
        """The server certificate."""
        return self.directory / "server.crt"

    def server_key(self) -> Path:
        """The server private key."""
        return self.directory / "server.key"

    def client_cert(self, credit_code: str) -> Path:
        """The client certificate of the department with ``credit_code``."""
        check_credit_code(credit_code)
        return self.directory / "clients" / f"{credit_code}.crt"

    def client_key(self, credit_code: str) -> Path:
        """The client private key of the department with ``credit_code``."""
        check_credit_code(credit_code)
        return self.directory / "clients" / f"{credit_code}.key"
