"""What every call of the client shares: the channel, retries, error translation, and
turning keyword fields into a request message. :class:`Calls` is the base of the
per-service call sets (:mod:`clients.store_calls`, :mod:`clients.verifier_calls`,
:mod:`clients.assistance_calls`) that :class:`clients.client.YihaoClient` combines.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Self, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.connection import DEFAULT_TIMEOUT, ClientConfig, connect
from clients.errors import from_grpc_error
from clients.retry import NO_RETRY, RetryPolicy, call_with_retry
from clients.staff import with_staff
from yihao.v1 import (
    assistance_pb2_grpc,
    common_pb2,
    common_pb2_grpc,
    licence_store_pb2_grpc,
    verifier_pb2_grpc,
)
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import InvalidArgument
from yihao_shared.staff import check_staff

__all__ = [
    "LICENCE_ID_PREFIX",
    "MAX_VERIFY_BATCH_CHUNK",
    "VERIFY_BATCH_CHUNK",
    "Calls",
    "Feed",
    "M",
    "T",
    "licence_ref",
    "new_idempotency_key",
    "request_of",
]

M = TypeVar("M")
T = TypeVar("T")

#: Every e-licence identifier (GB/T 36904 OID arc) starts with this.
LICENCE_ID_PREFIX = "1.2.156.3005.2."
#: Items per VerifyBatch message (each message gets a receipt).
VERIFY_BATCH_CHUNK = 500
#: The server's MAX_BATCH_ITEMS: the most whose answers always fit one 4 MiB message.
MAX_VERIFY_BATCH_CHUNK = 1_000


def licence_ref(text: str) -> pb.LicenceRef:
    """A ``LicenceRef`` from ``"<e-licence identifier>"`` or ``"<TYPE_CODE>:<LICENCE_NUMBER>"``."""
    text = text.strip()
    if text.startswith(LICENCE_ID_PREFIX):
        return pb.LicenceRef(licence_id=text)
    type_code, sep, number = text.partition(":")
    if not (sep and type_code.strip() and number.strip()):
        raise InvalidArgument.field(
            "licence",
            f"{text!r} is neither an e-licence identifier ({LICENCE_ID_PREFIX}...) "
            "nor TYPE_CODE:LICENCE_NUMBER",
            reason="INVALID_LICENCE_REF",
        )
    pair = pb.TypeAndNumber(type_code=type_code.strip(), licence_number=number.strip())
    return pb.LicenceRef(type_and_number=pair)


def new_idempotency_key() -> str:
    """A fresh idempotency key (32 hex characters)."""
    return uuid.uuid4().hex


def request_of(cls: type[M], request: M | None, fields: dict[str, Any]) -> M:
    """``request`` itself, or a ``cls`` built from ``fields``."""
    if request is None:
        if isinstance(fields.get("licence"), str):
            fields = {**fields, "licence": licence_ref(fields["licence"])}
        return cls(**fields)
    if fields:
        raise TypeError("pass a request message or its fields as keywords, not both")
    if not isinstance(request, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(request).__name__}")
    return request


class Feed:
    """Hands records to gRPC's sending thread, keeping any exception the records raise.

    gRPC would swallow an exception raised by the request iterable (say, the file cannot be
    read) and only cancel the call; kept here, the stream is half-closed normally so the
    records already sent get their results, and the caller re-raises it at the end.
    """

    def __init__(self, records: Iterable[Any]) -> None:
        self._records = records
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._records
        except Exception as exc:  # handed back to the caller's thread
            self.error = exc


class Calls:
    """The connection, retries and error translation every service's calls share.

    ``target`` is a :class:`ClientConfig` (the client opens, and closes, a mutual-TLS
    channel) or a ready ``grpc.Channel`` (yours to close; tests pass an insecure one).
    ``staff``: the staff member of the calling department who acts, sent on every call as
    the ``yihao-staff`` metadata (1 to 64 characters of ``A-Z a-z 0-9 . _ @ -``; checked
    here, :class:`InvalidArgument` otherwise). The server records it beside the department
    in receipts, access records and licence events, as the department's assertion.
    """

    def __init__(
        self,
        target: ClientConfig | grpc.Channel,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        staff: str | None = None,
    ) -> None:
        if isinstance(target, ClientConfig):
            if staff is not None:
                check_staff(staff)  # before a channel is opened that would need closing
            self._channel, self._owns_channel = connect(target), True
            default_timeout = target.timeout
        else:
            self._channel, self._owns_channel = target, False
            default_timeout = DEFAULT_TIMEOUT
        self.timeout = default_timeout if timeout is None else timeout
        self.retry = retry or RetryPolicy()
        self._bind(staff)

    def _bind(self, staff: str | None) -> None:
        """Make the stubs, on a channel that names ``staff`` on every call if given."""
        self.staff = staff
        channel = self._channel if staff is None else with_staff(self._channel, staff)
        self._store = licence_store_pb2_grpc.LicenceStoreStub(channel)
        self._diagnostics = common_pb2_grpc.DiagnosticsStub(channel)
        self._verifier = verifier_pb2_grpc.VerifierStub(channel)
        self._assistance = assistance_pb2_grpc.AssistanceStub(channel)

    def as_staff(self, staff: str | None) -> Self:
        """A client on the same channel whose calls name ``staff`` (None: nobody).

        For a system serving many staff members over one channel (the web desk): one
        client per department, ``client.as_staff(account_id).verify_licence(...)`` per act.
        The returned client does not own the channel: close the original, not this.
        """
        twin = copy.copy(self)
        twin._owns_channel = False
        twin._bind(staff)
        return twin

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _unary(
        self,
        rpc: Callable[..., Any],
        request: object,
        returns: type[T],
        timeout: float | None,
        policy: RetryPolicy | None = None,
    ) -> T:
        """Call ``rpc`` with retries and error translation; ``returns`` is for the checker."""
        per_attempt = self.timeout if timeout is None else timeout

        def attempt(remaining: float) -> T:
            try:
                response: T = rpc(request, timeout=min(per_attempt, remaining))
            except grpc.RpcError as exc:
                raise from_grpc_error(exc) from exc
            return response

        return call_with_retry(attempt, policy or self.retry)

    def _mutate(self, rpc: Callable[..., Any], request: Any, timeout: float | None) -> pb.Licence:
        if not request.idempotency_key:
            request.idempotency_key = new_idempotency_key()
        return self._unary(rpc, request, pb.Licence, timeout)

    @staticmethod
    def _stream(call: Any) -> Iterator[Any]:
        try:
            yield from call
        except grpc.RpcError as exc:
            raise from_grpc_error(exc) from exc
        finally:
            call.cancel()  # a no-op once the call has ended; stops it if the caller quit early

    # --- diagnostics -------------------------------------------------------------------------

    def ping(
        self,
        request: common_pb2.PingRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> common_pb2.PingResponse:
        """Diagnostics.Ping: a no-op through the whole server stack; names the caller."""
        req = request_of(common_pb2.PingRequest, request, fields)
        return self._unary(self._diagnostics.Ping, req, common_pb2.PingResponse, timeout)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The standard gRPC health check of ``service`` ("" = the server as a whole):
        ``SERVING``, ``NOT_SERVING`` or ``SERVICE_UNKNOWN``. Not retried: it is the question
        "is it up now?"; a server that cannot be reached raises :class:`Unavailable`.
        """
        stub = health_pb2_grpc.HealthStub(self._channel)
        req = health_pb2.HealthCheckRequest(service=service)
        reply = self._unary(stub.Check, req, health_pb2.HealthCheckResponse, timeout, NO_RETRY)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
