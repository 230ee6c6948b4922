"""ConcurrencyInterceptor: at most N unary calls run at once, the others wait their turn within
their deadline; streaming calls are not held back."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.interceptors import (
    ConcurrencyInterceptor,
    DeadlineInterceptor,
    ErrorInterceptor,
)
from testsupport.stack import settings_for, start_stack
from yihao.v1 import common_pb2, common_pb2_grpc
from yihao.v1 import licence_store_pb2 as store_pb


class Probe:
    """Handlers that record how many unary calls run at once and can be held."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def unary(self, request: bytes, context) -> bytes:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.started.release()
        try:
            self.release.wait(10)
            return request
        finally:
            with self.lock:
                self.running -= 1

    def stream(self, request: bytes, context):
        yield request
        yield request


@pytest.fixture
def serve():
    servers = []

    def start(limit: int) -> tuple[grpc.Channel, Probe]:
        probe = Probe()
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16),
            interceptors=[ErrorInterceptor(), DeadlineInterceptor(), ConcurrencyInterceptor(limit)],
        )
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "test.Probe",
                    {
                        "Unary": grpc.unary_unary_rpc_method_handler(probe.unary),
                        "Stream": grpc.unary_stream_rpc_method_handler(probe.stream),
                    },
                )
            ]
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        servers.append((server, channel, probe))
        return channel, probe

    yield start
    for server, channel, probe in servers:
        probe.release.set()
        channel.close()
        server.stop(0).wait()


def test_no_more_than_the_limit_run_at_once_and_every_call_is_answered(serve):
    channel, probe = serve(2)
    unary = channel.unary_unary("/test.Probe/Unary")
    calls = [unary.future(b"%d" % i, timeout=10) for i in range(6)]
    for _ in range(2):
        assert probe.started.acquire(timeout=5)
    assert not probe.started.acquire(timeout=0.3)  # the third waits for a slot
    probe.release.set()
    assert [c.result() for c in calls] == [b"%d" % i for i in range(6)]
    assert probe.most == 2


def test_a_call_still_waiting_at_its_deadline_is_deadline_exceeded(serve):
    channel, probe = serve(1)
    unary = channel.unary_unary("/test.Probe/Unary")
    holding = unary.future(b"first", timeout=10)
    assert probe.started.acquire(timeout=5)
    with pytest.raises(grpc.RpcError) as caught:
        unary(b"second", timeout=0.3)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    probe.release.set()
    assert holding.result() == b"first"
    assert unary(b"third", timeout=5) == b"third"  # the slot was given back


def test_streaming_calls_are_not_held_back(serve):
    channel, probe = serve(1)
    unary = channel.unary_unary("/test.Probe/Unary")
    holding = unary.future(b"first", timeout=10)
    assert probe.started.acquire(timeout=5)
    stream = channel.unary_stream("/test.Probe/Stream")
    assert list(stream(b"s", timeout=5)) == [b"s", b"s"]
    probe.release.set()
    assert holding.result() == b"first"


@pytest.fixture
def database_url(tmp_path) -> str:
    """The limit does not depend on the database: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def test_the_server_applies_yihao_max_active_calls(database_url, pki, tmp_path, monkeypatch):
    stack = start_stack(settings_for(database_url, tmp_path, pki, max_active_calls=1), pki)
    release = threading.Event()
    real = stack.app.licence_store.catalogue.list_licence_types

    def slow(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(stack.app.licence_store.catalogue, "list_licence_types", slow)
    try:
        store = stack.store("market")
        holding = store.ListLicenceTypes.future(store_pb.ListLicenceTypesRequest(), timeout=10)
        time.sleep(0.2)  # it holds the one slot
        ping = common_pb2_grpc.DiagnosticsStub(stack.channel("hall")).Ping
        with pytest.raises(grpc.RpcError) as caught:
            ping(common_pb2.PingRequest(payload="x"), timeout=1)
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        health = health_pb2_grpc.HealthStub(stack.channel("hall"))
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == (
            health_pb2.HealthCheckResponse.SERVING  # health checks are not held back
        )
        release.set()
        assert holding.result().licence_types
        assert ping(common_pb2.PingRequest(payload="y"), timeout=5).payload == "y"
    finally:
        release.set()
        stack.stop()
