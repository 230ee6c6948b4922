"""Yihao (一号) client library: talk to the e-licence store over mutual-TLS gRPC.

    from clients import ClientConfig, YihaoClient, NotFound

    with YihaoClient(ClientConfig.for_department("market")) as yihao:
        try:
            licence = yihao.get_licence(licence="11100000000013338W011:FZ-0001")
        except NotFound:
            ...

The error classes are the server's own (:mod:`yihao_shared.errors`), rebuilt from the
rich gRPC status by :func:`clients.errors.from_grpc_error`. The ``yihao`` command line is
:mod:`clients.cli`; reading import files is :mod:`clients.importfile`.
"""

from __future__ import annotations

from clients.client import YihaoClient, licence_ref
from clients.connection import ClientConfig, connect
from clients.retry import RetryPolicy
from yihao_shared.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    YihaoError,
)

__all__ = [
    "AlreadyExists",
    "ClientConfig",
    "Conflict",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "RetryPolicy",
    "Unauthenticated",
    "Unavailable",
    "YihaoClient",
    "YihaoError",
    "connect",
    "licence_ref",
]
