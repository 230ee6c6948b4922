"""Traces: with tracing on, an RPC makes a server span with the database's spans as children,
log lines and INTERNAL answers carry the trace id; with it off, nothing is even imported."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common import logformat
from services.common.config import load_settings
from services.tracing import Tracing, tracing_for
from testsupport.stack import settings_for, start_stack
from yihao.v1 import licence_store_pb2 as pb


@pytest.fixture
def traced(tmp_path, pki, clock, monkeypatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    monkeypatch.setattr(logformat, "trace_id_provider", logformat.trace_id_provider)
    tracing.install_log_hook()
    settings = settings_for(f"sqlite:///{tmp_path / 'yihao.db'}", tmp_path, pki)
    stack = start_stack(settings, pki, clock=clock, tracing=tracing)
    exporter.clear()  # the demo catalogue's loading
    yield stack, exporter
    stack.stop()


def test_an_rpc_makes_a_server_span_with_database_children(traced):
    stack, exporter = traced
    stack.store("hall").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(holder_number="91350100M000100Y43")
    )
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "/yihao.v1.LicenceStore/ListLicencesByHolder"
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == server.context.span_id
    ]
    assert children, [s.name for s in spans]
    assert all(c.context.trace_id == server.context.trace_id for c in children)
    assert any("SELECT" in c.name or c.attributes.get("db.statement") for c in children)


def test_an_internal_answer_quotes_the_trace_id(traced, monkeypatch):
    stack, exporter = traced

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(stack.app.licence_store.queries, "list_by_holder", broken)
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("hall").ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(holder_number="91350100M000100Y43")
        )
    if caught.value.code() != grpc.StatusCode.INTERNAL:
        pytest.fail(f"the servicer did not call the patched use case: {caught.value}")
    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert f"{server.context.trace_id:032x}" in caught.value.details()


def test_tracing_is_off_and_not_imported_without_an_endpoint():
    assert tracing_for(load_settings({})) is None
    probe = (
        "import sys\n"
        "from services.common.config import load_settings\n"
        "from services.app import build_app\n"
        "from services.tracing import tracing_for\n"
        "assert tracing_for(load_settings({})) is None\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe], capture_output=True, text=True, check=True
    )
    assert json.loads(run.stdout) == []
