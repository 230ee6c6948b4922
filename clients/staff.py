"""Naming the staff member who acts: the ``yihao-staff`` metadata on every call of a channel.

A department's system that serves people (a web desk, a counter system) calls with the
department's certificate and says which of its staff acts, so receipts, access records and
licence events record the person as well as the department (see :mod:`yihao_shared.staff`:
it is the department's assertion, never an authority). :func:`with_staff` wraps a channel
so that every call on it — unary or streaming — carries the header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from yihao_shared.staff import STAFF_METADATA, check_staff

__all__ = ["with_staff"]

if TYPE_CHECKING:
    _Bases = (
        grpc.UnaryUnaryClientInterceptor[Any, Any],
        grpc.UnaryStreamClientInterceptor[Any, Any],
        grpc.StreamUnaryClientInterceptor[Any, Any],
        grpc.StreamStreamClientInterceptor[Any, Any],
    )
else:  # the stubs are generic, the runtime classes are not
    _Bases = (
        grpc.UnaryUnaryClientInterceptor,
        grpc.UnaryStreamClientInterceptor,
        grpc.StreamUnaryClientInterceptor,
        grpc.StreamStreamClientInterceptor,
    )


@dataclass(frozen=True)
class _Details(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


def with_staff(channel: grpc.Channel, staff: str) -> grpc.Channel:
    """``channel`` with ``yihao-staff: <staff>`` added to every call's metadata.

    ``staff`` is checked first (1 to 64 characters of ``A-Z a-z 0-9 . _ @ -``), raising
    :class:`~yihao_shared.errors.InvalidArgument` naming ``metadata yihao-staff``.
    """
    return grpc.intercept_channel(channel, _StaffInterceptor(check_staff(staff)))


class _StaffInterceptor(*_Bases):  # type: ignore[misc]
    """Adds the staff header to each call's metadata (keeping what the call already has)."""

    def __init__(self, staff: str) -> None:
        self._header = (STAFF_METADATA, staff)

    def _details(self, details: Any) -> _Details:
        metadata = [m for m in (details.metadata or ()) if m[0] != STAFF_METADATA]
        return _Details(
            method=details.method,
            timeout=details.timeout,
            metadata=[*metadata, self._header],
            credentials=details.credentials,
            wait_for_ready=getattr(details, "wait_for_ready", None),
            compression=getattr(details, "compression", None),
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)
