"""gRPC failures → the one Yihao error hierarchy (:mod:`yihao_shared.errors`), once.

The server's error interceptor sends every failure as a ``google.rpc.Status`` with details;
:func:`from_grpc_error` unpacks them back into the same classes the server raised:

    google.rpc.ErrorInfo    → ``.reason`` and ``.metadata`` (e.g. ``correlation_id``)
    google.rpc.BadRequest   → :class:`InvalidArgument` with its ``violations``
    google.rpc.RetryInfo    → :attr:`ResourceExhausted.retry_after` (seconds)
    google.rpc.RequestInfo  → ``metadata["request_id"]``

Status codes the hierarchy has no class for are folded into the nearest class, and the
instance's ``status`` keeps the real code name (so messages stay truthful and retries, which
look at ``status``, do not fire on them):

    CANCELLED             → Unavailable   the call did not complete; not retried automatically,
                                          since the cancellation may be the caller's own
    OUT_OF_RANGE          → InvalidArgument  (gRPC's "invalid argument, but may become valid")
    UNKNOWN, UNIMPLEMENTED,
    DATA_LOSS, OK         → Internal      the server's problem, not the caller's
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from yihao_shared.errors import (
    BY_STATUS,
    FieldViolation,
    Internal,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    YihaoError,
)

__all__ = ["from_grpc_error"]

#: Codes without a class of their own, and the class they are folded into.
FOLDED: dict[str, type[YihaoError]] = {
    "CANCELLED": Unavailable,
    "OUT_OF_RANGE": InvalidArgument,
    "UNKNOWN": Internal,
    "UNIMPLEMENTED": Internal,
    "DATA_LOSS": Internal,
    "OK": Internal,
}

_DETAILS_KEY = "grpc-status-details-bin"


class _Details:
    """What the ``google.rpc`` details of one status say, gathered."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.metadata: dict[str, str] = {}
        self.violations: list[FieldViolation] = []
        self.retry_after: float | None = None

    def add(self, packed: any_pb2.Any) -> None:
        """Take in one packed detail; unknown kinds are ignored."""
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        request = error_details_pb2.RequestInfo()
        if packed.Unpack(info):
            self.reason = info.reason or None
            self.metadata.update(info.metadata)
        elif packed.Unpack(bad):
            self.violations.extend(
                FieldViolation(v.field, v.description, v.reason or "INVALID")
                for v in bad.field_violations
            )
        elif packed.Unpack(retry):
            self.retry_after = retry.retry_delay.ToNanoseconds() / 1e9
        elif packed.Unpack(request) and request.request_id:
            self.metadata.setdefault("request_id", request.request_id)

    @classmethod
    def of(cls, details: Iterable[any_pb2.Any]) -> _Details:
        """Gather all ``details``."""
        gathered = cls()
        for packed in details:
            gathered.add(packed)
        return gathered


def _rich_status(call: grpc.Call) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` in the call's trailers, if the server sent one."""
    try:
        return rpc_status.from_call(call)
    except ValueError:
        # Code or message disagree with the trailer (a proxy rewrote the status): the
        # details are still the server's, so read them without the consistency check.
        for key, value in call.trailing_metadata() or ():
            if key == _DETAILS_KEY and isinstance(value, bytes):
                return status_pb2.Status.FromString(value)
        return None


def _build(cls: type[YihaoError], message: str, code_name: str, details: _Details) -> YihaoError:
    reason = details.reason or (code_name if cls.status != code_name else None)
    error: YihaoError
    if issubclass(cls, InvalidArgument):
        error = cls(message, violations=details.violations, reason=reason)
    elif issubclass(cls, ResourceExhausted):
        retry_after = 1.0 if details.retry_after is None else details.retry_after
        error = cls(message, retry_after=retry_after, reason=reason)
    else:
        error = cls(message, reason=reason)
    error.metadata.update(details.metadata)
    if cls.status != code_name:
        error.status = code_name
    return error


def _code_and_message(exc: grpc.RpcError) -> tuple[str, str]:
    if not isinstance(exc, grpc.Call):
        return "UNKNOWN", str(exc) or type(exc).__name__
    code = exc.code()
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return name, exc.details() or name.lower().replace("_", " ")


def from_grpc_error(exc: grpc.RpcError) -> YihaoError:
    """The typed Yihao error for a failed gRPC call (see the module docstring).

    Use as ``raise from_grpc_error(exc) from exc`` so the gRPC error stays the ``__cause__``.
    """
    code_name, message = _code_and_message(exc)
    status = _rich_status(exc) if isinstance(exc, grpc.Call) else None
    details = _Details.of(status.details if status is not None else ())
    if status is not None and status.message:
        message = status.message
    cls = BY_STATUS.get(code_name) or FOLDED.get(code_name, Internal)
    return _build(cls, message, code_name, details)
