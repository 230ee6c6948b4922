"""Where the server is and who we are: :class:`ClientConfig`, and :func:`connect`.

Departments authenticate with mutual TLS. In development the PKI made by ``yihao pki init``
lives under ``<var>/pki`` (see :mod:`yihao_shared.devpki`)::

    ca.crt                          trust root for the server certificate
    clients/<credit_code>.crt/.key  the department's client certificate and key

The development server certificate names ``localhost`` and ``127.0.0.1``; to reach a server
under another name that presents such a certificate, set :attr:`ClientConfig.server_name`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc

from yihao_shared.departments import code_of
from yihao_shared.devpki import DevPki
from yihao_shared.environment import DEFAULT_ADDRESS, DEFAULT_VAR_DIR, load_client_settings
from yihao_shared.errors import FailedPrecondition

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_VAR_DIR",
    "ClientConfig",
    "connect",
]

DEFAULT_TIMEOUT = 10.0
#: gRPC's default is 4 MiB; a department with many licence types can exceed it in one list.
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def _default_address() -> str:
    return load_client_settings().address


def default_var_dir() -> Path:
    """The ``var`` directory: ``$YIHAO_VAR_DIR``, else ``./var`` (read at call time)."""
    return load_client_settings().var_dir


@dataclass(frozen=True)
class ClientConfig:
    """How to reach a Yihao server.

    ``address`` defaults to ``$YIHAO_ADDRESS`` or ``127.0.0.1:50051``. ``ca`` is the trust
    root for the server certificate (None: the system roots); ``cert`` and ``key`` are the
    calling department's client certificate and key. ``timeout`` (seconds) bounds each
    unary attempt. ``credit_code`` is informational: the department the certificate is for.
    """

    address: str = field(default_factory=_default_address)
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    server_name: str | None = None
    credit_code: str | None = None

    @classmethod
    def for_department(
        cls,
        alias_or_code: str,
        var_dir: Path | None = None,
        *,
        address: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ClientConfig:
        """The configuration of a department of the development PKI in ``var_dir``.

        ``alias_or_code`` is a demo alias (``market``, ``civil``, ...) or a credit code;
        ``var_dir`` defaults to :func:`default_var_dir`. Raises :class:`FailedPrecondition`
        naming the first missing file, with the command that creates it, and
        :class:`InvalidArgument` for a code that cannot be a credit code.
        """
        code = code_of(alias_or_code)
        pki = DevPki((var_dir if var_dir is not None else default_var_dir()) / "pki")
        config = cls(
            address=address or _default_address(),
            ca=pki.ca_cert(),
            cert=pki.client_cert(code),
            key=pki.client_key(code),
            timeout=timeout,
            credit_code=code,
        )
        config.check_files()
        return config

    def check_files(self) -> None:
        """Raise :class:`FailedPrecondition` if a configured TLS file does not exist."""
        for path in (self.ca, self.cert, self.key):
            if path is not None and not path.is_file():
                raise FailedPrecondition(
                    f"{path} does not exist; create the development PKI with "
                    "`yihao pki init` (or pass --var-dir / set YIHAO_VAR_DIR)",
                    reason="TLS_FILE_MISSING",
                    metadata={"path": str(path)},
                )


def _read(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot read {path}: {exc.strerror or exc}; create the development PKI with "
            "`yihao pki init`",
            reason="TLS_FILE_MISSING",
            metadata={"path": str(path)},
        ) from exc


def _options(config: ClientConfig) -> list[tuple[str, str | int]]:
    options: list[tuple[str, str | int]] = [
        ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", DEFAULT_MAX_MESSAGE_BYTES),
    ]
    if config.server_name:
        options.append(("grpc.ssl_target_name_override", config.server_name))
    return options


def connect(config: ClientConfig) -> grpc.Channel:
    """A mutual-TLS channel to ``config.address``; connects lazily, on the first call."""
    if (config.cert is None) != (config.key is None):
        raise FailedPrecondition(
            "a client certificate needs its key and vice versa", reason="TLS_FILE_MISSING"
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(config.ca),
        private_key=_read(config.key),
        certificate_chain=_read(config.cert),
    )
    return grpc.secure_channel(config.address, credentials, options=_options(config))
