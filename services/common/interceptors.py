"""Cross-cutting concerns as server interceptors: error mapping, caller identity, authorisation.

Order (outermost first): errors → decoding (services.common.decoding) → refusal (when a
server fails closed) → request text →
deadline → concurrency → identity → rate limits → authorisation → the servicer.
A servicer never reads a certificate, checks a role or builds a gRPC status itself.

The sync gRPC server gives interceptors only the method name, so each interceptor here
re-wraps the method handler's behaviour, which receives the request and the context. For
server-streaming methods the wrapper is a generator, so errors raised while streaming are
mapped too, and the caller stays set while the stream runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import grpc

from services.common.authz import PUBLIC_PREFIXES, authorise
from services.common.database import call_deadline, remaining_seconds
from services.common.errors import DeadlineExceeded, InvalidArgument, Unauthenticated, YihaoError
from services.common.grpc_errors import internal_status, to_status
from services.common.identity import Caller, _current
from services.common.metrics import Metrics
from services.common.pki import certificate_serial, credit_code_from_pem
from services.common.ratelimit import RateLimiter
from services.common.roles import Role
from services.common.textcheck import refuse_nul
from yihao_shared.staff import STAFF_FIELD, STAFF_METADATA, check_staff

log = logging.getLogger("yihao.rpc")

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    InterceptorBase = grpc.ServerInterceptor[Any, Any]
else:  # the stubs are generic, the runtime classes are not
    Handler = grpc.RpcMethodHandler
    InterceptorBase = grpc.ServerInterceptor


def _rewrap(handler: Handler, behaviour: Behaviour) -> Handler:
    """The same handler with a new behaviour (and the same (de)serialisers)."""
    factories = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    factory = factories[(handler.request_streaming, handler.response_streaming)]
    return factory(
        behaviour,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _behaviour_of(handler: Handler) -> Behaviour:
    behaviour = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    assert behaviour is not None
    return cast(Behaviour, behaviour)


class WrappingInterceptor(InterceptorBase):
    """Base: subclasses implement :meth:`around`, a context run around every call."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(details)
        method: str = details.method
        if handler is None or not self.applies(method, handler):
            return handler
        behaviour = _behaviour_of(handler)
        if handler.response_streaming:
            return _rewrap(handler, self._streaming(method, behaviour))
        return _rewrap(handler, self._unary(method, behaviour))

    def applies(self, method: str, handler: Handler) -> bool:
        """Whether calls of ``method`` are wrapped (all of them unless overridden)."""
        return True

    def _unary(self, method: str, behaviour: Behaviour) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            return self.around(method, context, lambda: behaviour(request, context))

        return call

    def _streaming(self, method: str, behaviour: Behaviour) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            yield from self.around_stream(method, context, lambda: behaviour(request, context))

        return call

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        """Run one unary call."""
        raise NotImplementedError

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        """Run one server-streaming call (a generator)."""
        raise NotImplementedError


def _is_abort(exc: BaseException) -> bool:
    # grpc's context.abort() raises a bare Exception after setting the status: let it through.
    return type(exc) is Exception and not exc.args


class ErrorInterceptor(WrappingInterceptor):
    """Maps :class:`YihaoError` to rich statuses and anything else to INTERNAL."""

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except YihaoError as exc:
            context.abort_with_status(to_status(exc))
        except Exception as exc:
            if _is_abort(exc):
                raise
            context.abort_with_status(internal_status(exc, method))
        return None  # pragma: no cover - abort_with_status always raises

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        try:
            yield from run()
        except YihaoError as exc:
            context.abort_with_status(to_status(exc))
        except Exception as exc:
            if _is_abort(exc):
                raise
            context.abort_with_status(internal_status(exc, method))


def caller_from_context(
    context: grpc.ServicerContext, revoked: Callable[[str], bool] = lambda _serial: False
) -> Caller:
    """The department named by the peer's client certificate, from the auth context only;
    a certificate on the revocation list is refused like none at all."""
    pems = context.auth_context().get("x509_pem_cert")
    pem = pems[0] if pems else b""
    code = credit_code_from_pem(pem) if pem else None
    if not code:
        raise Unauthenticated(
            "a client certificate naming a department (urn:uscc:<credit code>) is required",
            reason="NO_CLIENT_CERTIFICATE",
        )
    if revoked(certificate_serial(pem)):
        raise Unauthenticated(
            "the client certificate has been revoked", reason="CERTIFICATE_REVOKED"
        )
    return Caller(code, staff_from_metadata(context.invocation_metadata()))


def staff_from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
    """The staff member the department says is acting (``yihao-staff``), or None.

    The department's assertion, checked for form only; more than one is refused. No
    allocation when the header is absent (the common case: systems, not people).
    """
    staff: str | None = None
    for key, value in metadata or ():
        if key == STAFF_METADATA:
            if staff is not None:
                raise InvalidArgument.field(
                    STAFF_FIELD, "give at most one staff account id", "STAFF_ID_REPEATED"
                )
            staff = check_staff(value if isinstance(value, str) else "")
    return staff


class _CallerScope:
    """Sets the current caller; tolerant of a stream closed from another thread."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self.token: contextvars.Token[Caller | None] | None = None

    def __enter__(self) -> Caller:
        self.token = _current.set(self.caller)
        return self.caller

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            # A stream closed by the garbage collector runs this in another context.
            with contextlib.suppress(ValueError):
                _current.reset(self.token)


class IdentityInterceptor(WrappingInterceptor):
    """Makes the certificate's department (and the staff member it names in ``yihao-staff``)
    the current caller, or refuses the call."""

    def __init__(self, revoked: Callable[[str], bool] = lambda _serial: False) -> None:
        self.revoked = revoked

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        with _CallerScope(caller_from_context(context, self.revoked)):
            return run()

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        with _CallerScope(caller_from_context(context, self.revoked)):
            yield from run()


class AuthorisationInterceptor(WrappingInterceptor):
    """Checks the policy table for every call before the servicer runs."""

    def __init__(self, roles_of: Callable[[str], frozenset[Role] | None]) -> None:
        self.roles_of = roles_of

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        authorise(method, _current_code(), self.roles_of)
        return run()

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        authorise(method, _current_code(), self.roles_of)
        yield from run()


def _current_code() -> str:
    caller = _current.get()
    if caller is None:  # pragma: no cover - the identity interceptor runs first
        raise Unauthenticated("no caller", reason="NO_CALLER")
    return caller.code


class RateLimitInterceptor(WrappingInterceptor):
    """Token buckets per department and kind of call (health and reflection exempt)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def _check(self, method: str) -> None:
        if not method.startswith(PUBLIC_PREFIXES):
            self.limiter.check(method, _current_code())

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        self._check(method)
        return run()

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        self._check(method)
        yield from run()


class DeadlineInterceptor(WrappingInterceptor):
    """Makes the caller's deadline known to the database layer for the length of the call."""

    @staticmethod
    def _scope(context: grpc.ServicerContext) -> contextlib.AbstractContextManager[None]:
        remaining = context.time_remaining()
        # A call without a deadline reports an astronomically large remainder: treat as none.
        bounded = remaining is not None and remaining < 86_400
        deadline = time.monotonic() + remaining if bounded else None
        return _DeadlineScope(deadline)

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        with self._scope(context):
            return run()

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        with self._scope(context):
            yield from run()


class ConcurrencyInterceptor(WrappingInterceptor):
    """At most ``limit`` unary calls run at once; the others wait their turn (asleep, within
    their deadline) in the order they came.

    The handler pool needs many threads (each streaming call holds one for as long as it
    lasts), but CPU-bound unary calls running at once only contend for the one GIL. Measured
    on 2 cores, 8 calls in flight (``YIHAO_MAX_ACTIVE_CALLS``): on SQLite, 4 at once cost
    ~1,560 µs of CPU per ``VerifyLicence`` against ~2,000 µs unlimited in one pair of runs,
    ~2,210 against ~2,300 µs in another; on PostgreSQL, where a call mostly waits for the
    database, 4 cost throughput (233/s against 274-326/s with 8 or unlimited). So it is off
    unless configured. Streaming calls and health checks are not held back.
    """

    def __init__(self, limit: int) -> None:
        self._slots = threading.Semaphore(limit)

    def applies(self, method: str, handler: Handler) -> bool:
        unary = not (handler.request_streaming or handler.response_streaming)
        return unary and not method.startswith(PUBLIC_PREFIXES)

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        if not self._slots.acquire(timeout=remaining_seconds()):
            raise DeadlineExceeded(
                "the server was too busy to start the call before its deadline",
                reason="SERVER_BUSY",
            )
        try:
            return run()
        finally:
            self._slots.release()


class RefusalInterceptor(WrappingInterceptor):
    """Refuses every call but health checking, reflection and diagnostics while ``refuse``
    raises (the error it raises is the answer): a server failing closed, e.g. on a database
    whose log is behind the signed head kept outside it (services.common.trusted_head)."""

    EXEMPT = (*PUBLIC_PREFIXES, "/yihao.v1.Diagnostics/")

    def __init__(self, refuse: Callable[[], None]) -> None:
        self._refuse = refuse

    def applies(self, method: str, handler: Handler) -> bool:
        return not method.startswith(self.EXEMPT)

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        self._refuse()
        return run()

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        self._refuse()
        yield from run()


class _DeadlineScope:
    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.token: contextvars.Token[float | None] | None = None

    def __enter__(self) -> None:
        self.token = call_deadline.set(self.deadline)

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            with contextlib.suppress(ValueError):
                call_deadline.reset(self.token)


class RequestTextInterceptor(WrappingInterceptor):
    """Refuses requests whose strings hold NUL characters, before any work (see textcheck).

    Client-streaming calls check each record themselves, so one bad record never ends a
    stream; here only single requests are checked.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(details)
        if handler is None or handler.request_streaming:
            return handler
        return super().intercept_service(lambda _d: handler, details)

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        return run()

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        yield from run()

    def _unary(self, method: str, behaviour: Behaviour) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            refuse_nul(request)
            return behaviour(request, context)

        return call

    def _streaming(self, method: str, behaviour: Behaviour) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            refuse_nul(request)
            yield from behaviour(request, context)

        return call


class MetricsInterceptor(InterceptorBase):
    """Counts every RPC by service, method and status code, and times it (outermost).

    The status is read from the context after the inner interceptors have run: the error
    interceptor sets it when it aborts, and a call that returns normally is OK.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(details)
        if handler is None:
            return handler
        service, _, name = details.method.lstrip("/").rpartition("/")
        behaviour = _behaviour_of(handler)
        record = functools.partial(self._record, service, name)
        if handler.response_streaming:

            def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                began, code = time.perf_counter(), "CANCELLED"
                try:
                    yield from behaviour(request, context)
                    code = "OK"
                finally:
                    record(context, code, began)

            return _rewrap(handler, streaming)

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            began, code = time.perf_counter(), "UNKNOWN"
            try:
                answer = behaviour(request, context)
                code = "OK"
                return answer
            finally:
                record(context, code, began)

        return _rewrap(handler, unary)

    def _record(
        self, service: str, method: str, context: grpc.ServicerContext, code: str, began: float
    ) -> None:
        status = context.code()  # type: ignore[attr-defined]  # set by abort / set_code
        if isinstance(status, grpc.StatusCode):
            code = status.name
        self.metrics.rpc_handled(service, method, code, time.perf_counter() - began)
