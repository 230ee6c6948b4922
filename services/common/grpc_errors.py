"""Domain errors → rich gRPC statuses (``google.rpc.Status`` with details), in one place.

``InvalidArgument`` carries a ``google.rpc.BadRequest`` with one field violation per problem;
every error carries a ``google.rpc.ErrorInfo`` with its stable reason code; rate limits carry
``google.rpc.RetryInfo``. Anything unexpected becomes INTERNAL with a correlation id that is
also logged (with the traceback), so the caller learns nothing of the internals.
"""

from __future__ import annotations

import logging
import uuid

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common import logformat
from services.common.errors import InvalidArgument, ResourceExhausted, YihaoError

log = logging.getLogger("yihao.errors")

ERROR_DOMAIN = "yihao.gov.cn"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: YihaoError) -> grpc.Status:
    """The rich gRPC status for a domain error."""
    details = [
        _pack(
            error_details_pb2.ErrorInfo(
                reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata
            )
        )
    ]
    if isinstance(error, InvalidArgument) and error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description, reason=v.reason
                )
                for v in error.violations
            ]
        )
        details.append(_pack(bad))
    if isinstance(error, ResourceExhausted):
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    code = getattr(code_pb2, error.status, code_pb2.UNKNOWN)
    status = status_pb2.Status(code=code, message=error.message, details=details)
    return rpc_status.to_status(status)


def internal_status(exc: BaseException, method: str) -> grpc.Status:
    """INTERNAL with a correlation id; the exception is logged, never sent."""
    # The trace id when tracing is on, so the operator finds the whole trace from the quote.
    correlation = logformat.trace_id_provider() or uuid.uuid4().hex[:16]
    log.error(
        "unexpected error in %s (correlation id %s)",
        method,
        correlation,
        exc_info=exc,
        extra={"correlation_id": correlation},
    )
    status = status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error; quote correlation id {correlation} to the operators",
        details=[
            _pack(
                error_details_pb2.ErrorInfo(
                    reason="INTERNAL",
                    domain=ERROR_DOMAIN,
                    metadata={"correlation_id": correlation},
                )
            )
        ],
    )
    return rpc_status.to_status(status)
