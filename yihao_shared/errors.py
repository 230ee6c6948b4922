"""The one error hierarchy of Yihao, shared by the server and the client library.

It lives here, in the package the client distribution ships, so that a department's system
raises and catches the same classes without installing the server; the server imports it as
:mod:`services.common.errors`.

Every failure a caller can see is one of these classes. Each class knows the gRPC status it
maps to (by name, so this module imports neither grpc nor SQL) and carries a stable,
machine-readable ``reason`` (the ``google.rpc.ErrorInfo`` reason). The error interceptor
(``services.common.grpc_errors``) turns them into rich gRPC statuses once, at the boundary;
the client library turns those statuses back into the same classes.

    YihaoError                      base; never raised itself
    ├── InvalidArgument             INVALID_ARGUMENT   + field violations (google.rpc.BadRequest)
    ├── NotFound                    NOT_FOUND
    ├── AlreadyExists               ALREADY_EXISTS
    ├── FailedPrecondition          FAILED_PRECONDITION (e.g. illegal state transition)
    ├── Conflict                    ABORTED            (idempotency key reused, another body)
    ├── PermissionDenied            PERMISSION_DENIED
    ├── Unauthenticated             UNAUTHENTICATED
    ├── ResourceExhausted           RESOURCE_EXHAUSTED + retry_after (google.rpc.RetryInfo)
    ├── Unavailable                 UNAVAILABLE        (transient: retry)
    ├── DeadlineExceeded            DEADLINE_EXCEEDED
    └── Internal                    INTERNAL           (carries a correlation id, never internals)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One problem with one request field: which field, which rule, in words."""

    field: str
    description: str
    reason: str = "INVALID"


class YihaoError(Exception):
    """Base class: a failure with a gRPC status name, a stable reason code and a message."""

    status: str = "UNKNOWN"
    default_reason: str = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        return self.message


class InvalidArgument(YihaoError):
    """The request is malformed; ``violations`` name each offending field and rule."""

    status = "INVALID_ARGUMENT"
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str | None = None,
        *,
        violations: Iterable[FieldViolation] = (),
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.violations = list(violations)
        if message is None:
            message = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        if reason is None and len(self.violations) == 1:
            reason = self.violations[0].reason
        super().__init__(message or "invalid argument", reason=reason, metadata=metadata)

    @classmethod
    def field(cls, field: str, description: str, reason: str = "INVALID") -> InvalidArgument:
        """Shorthand for an error about a single field."""
        return cls(violations=[FieldViolation(field, description, reason)])


class NotFound(YihaoError):
    status = "NOT_FOUND"
    default_reason = "NOT_FOUND"


class AlreadyExists(YihaoError):
    status = "ALREADY_EXISTS"
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(YihaoError):
    status = "FAILED_PRECONDITION"
    default_reason = "FAILED_PRECONDITION"


class Conflict(YihaoError):
    status = "ABORTED"
    default_reason = "CONFLICT"


class PermissionDenied(YihaoError):
    status = "PERMISSION_DENIED"
    default_reason = "PERMISSION_DENIED"


class Unauthenticated(YihaoError):
    status = "UNAUTHENTICATED"
    default_reason = "UNAUTHENTICATED"


class ResourceExhausted(YihaoError):
    status = "RESOURCE_EXHAUSTED"
    default_reason = "RATE_LIMITED"

    def __init__(
        self, message: str, *, retry_after: float = 1.0, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class Unavailable(YihaoError):
    status = "UNAVAILABLE"
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(YihaoError):
    status = "DEADLINE_EXCEEDED"
    default_reason = "DEADLINE_EXCEEDED"


class Internal(YihaoError):
    status = "INTERNAL"
    default_reason = "INTERNAL"


#: Status name -> class, used by the client library to rebuild errors from a gRPC status.
BY_STATUS: dict[str, type[YihaoError]] = {
    cls.status: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        Conflict,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
        DeadlineExceeded,
        Internal,
    )
}
