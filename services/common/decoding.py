"""Request decoding inside the interceptor chain, so undecodable bytes are a caller's error.

grpcio decodes a request before any interceptor's code runs; when the bytes are not a valid
message (broken wire format, or invalid UTF-8 in a proto3 string field) it answers
``INTERNAL: Exception deserializing request!`` and logs an ERROR with a traceback — a log
flood any client can cause. :class:`DecodingInterceptor` takes decoding over: the handler it
returns has no deserializer (grpcio hands over the raw bytes), and its behaviour parses them,
raising :class:`InvalidArgument` naming the message type, which the error interceptor (outside
it) maps to INVALID_ARGUMENT. Each refusal is counted; a WARNING line without a traceback is
logged at most once a minute, with the number of refusals since the last line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import grpc
from google.protobuf.message import DecodeError

from services.common.errors import InvalidArgument

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    InterceptorBase = grpc.ServerInterceptor[Any, Any]
else:  # the stubs are generic, the runtime classes are not
    Handler = grpc.RpcMethodHandler
    InterceptorBase = grpc.ServerInterceptor

log = logging.getLogger("yihao.rpc")

Deserializer = Callable[[bytes], Any]
WARNING_INTERVAL_SECONDS = 60.0


class RateLimitedWarning:
    """Logs a warning at most once per ``interval`` seconds, counting the ones held back."""

    def __init__(self, logger: logging.Logger, interval: float = WARNING_INTERVAL_SECONDS) -> None:
        self.logger = logger
        self.interval = interval
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._held_back = 0

    def warn(self, message: str, *args: object) -> None:
        """Log ``message % args`` now, or count it if a line went out less than ``interval``
        seconds ago (the count is reported with the next line)."""
        now = time.monotonic()
        with self._lock:
            if now < self._next_at:
                self._held_back += 1
                return
            held_back, self._held_back = self._held_back, 0
            self._next_at = now + self.interval
        suffix = f" ({held_back} more since the last such line)" if held_back else ""
        self.logger.warning(message + suffix, *args)


undecodable_warning = RateLimitedWarning(log)


def message_type_of(deserializer: Deserializer) -> str:
    """The full protobuf name of the message ``deserializer`` (a ``FromString``) parses."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", None)
    return name if isinstance(name, str) else "request message"


def decoder(method: str, deserializer: Deserializer) -> Deserializer:
    """``deserializer`` raising :class:`InvalidArgument` (naming the type) for bad bytes."""
    type_name = message_type_of(deserializer)

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except (DecodeError, UnicodeDecodeError, ValueError, TypeError):
            undecodable_warning.warn(
                "refused an undecodable %s request to %s (%d bytes)", type_name, method, len(raw)
            )
            raise InvalidArgument.field(
                "request",
                f"is not a valid {type_name} message (protobuf wire format, with UTF-8 in "
                "every string field)",
                "UNDECODABLE_REQUEST",
            ) from None

    return decode


def _decoding(handler: Handler, decode: Deserializer) -> Callable[[Any, Any], Any]:
    behaviour = cast(
        Callable[[Any, Any], Any],
        handler.unary_unary
        or handler.unary_stream
        or handler.stream_unary
        or handler.stream_stream,
    )
    if handler.request_streaming:

        def decode_each(raw_requests: Iterator[bytes]) -> Iterator[Any]:
            for raw in raw_requests:
                yield decode(raw)

        return lambda requests, context: behaviour(decode_each(requests), context)
    return lambda raw, context: behaviour(decode(raw), context)


_FACTORIES = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class DecodingInterceptor(InterceptorBase):
    """Hands requests to the handlers as raw bytes and decodes them in the call itself.

    Must sit inside the error interceptor (so :class:`InvalidArgument` is mapped) and outside
    every interceptor that reads the request. Covers every method of every service, unary
    and streaming: a streaming request's messages are decoded one by one as they are read.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Handler | None],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        decode = decoder(details.method, handler.request_deserializer)
        factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
        return factory(
            _decoding(handler, decode),
            request_deserializer=None,
            response_serializer=handler.response_serializer,
        )
