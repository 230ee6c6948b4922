"""Traces with OpenTelemetry, exported over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

With the variable unset nothing here runs: OpenTelemetry is not imported, no interceptor or
database hook is installed, so tracing costs nothing. Set, every RPC gets a server span (the
gRPC instrumentation's interceptor, outermost) and every SQL statement a child span (the
SQLAlchemy instrumentation, on this process's engine); spans leave in batches through the
OTLP/gRPC exporter, which reads the standard ``OTEL_EXPORTER_OTLP_*`` variables itself. The
current trace id goes into JSON log lines and is the correlation id an INTERNAL answer quotes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.common import logformat
from services.common.config import Settings

if TYPE_CHECKING:
    import grpc
    from opentelemetry.sdk.trace import TracerProvider

    from services.common.database import Database

SERVICE_NAME = "yihao"


class Tracing:
    """A tracer provider and the hooks that use it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider

    def server_interceptor(self) -> grpc.ServerInterceptor[Any, Any]:
        """The gRPC instrumentation's server interceptor: a span per RPC."""
        from opentelemetry.instrumentation.grpc import server_interceptor

        interceptor: grpc.ServerInterceptor[Any, Any] = server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider
        )
        return interceptor

    def instrument_database(self, db: Database) -> None:
        """A span per SQL statement on ``db``'s engine (a child of the RPC's span)."""
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.instrumentation.sqlalchemy.version import __version__
        from opentelemetry.metrics import NoOpMeterProvider

        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
        usage = NoOpMeterProvider().get_meter("yihao").create_up_down_counter("unused")
        EngineTracer(tracer, db.engine, usage)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Export what is still queued and stop."""
        self.provider.shutdown()

    def install_log_hook(self) -> None:
        """Put the current trace id in log lines and INTERNAL correlation ids."""
        logformat.trace_id_provider = current_trace_id


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), or None outside a traced call."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def tracing_for(settings: Settings) -> Tracing | None:
    """OTLP export if ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, else None (nothing imported)."""
    if not settings.otlp_endpoint:
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    tracing = Tracing(provider)
    tracing.install_log_hook()
    return tracing
