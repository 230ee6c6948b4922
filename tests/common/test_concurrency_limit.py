"""ConcurrencyInterceptor: at most N unary calls run at once, the others wait their turn within
their deadline; streaming calls are not held back."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from services.common.interceptors import (
    ConcurrencyInterceptor,
    DeadlineInterceptor,
    ErrorInterceptor,
)


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
