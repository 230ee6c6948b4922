"""Bytes that are not a valid request message get INVALID_ARGUMENT naming the message type.

Sent raw through a real server to every RPC of every service (unary and streaming): broken
wire format, and — where the request has a string field — a well-formed message whose string
holds invalid UTF-8. grpcio alone answered ``INTERNAL: Exception deserializing request!``
with an ERROR traceback for each; now there is no traceback, at most one WARNING line a
minute, and the server keeps serving.
"""

from __future__ import annotations

import logging

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common import decoding
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2

MODULES = (common_pb2, licence_store_pb2, verifier_pb2, assistance_pb2)
GARBAGE = b"\xff\xff\xff\xff"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


@pytest.fixture(autouse=True)
def fresh_warning(monkeypatch):
    monkeypatch.setattr(decoding, "undecodable_warning", decoding.RateLimitedWarning(decoding.log))


def _methods():
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"/{service.full_name}/{method.name}", method


def _bad_utf8(method) -> bytes | None:
    """A message of the method's input type whose first string field is invalid UTF-8."""
    for field in method.input_type.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            tag = (field.number << 3) | 2
            assert tag < 128, "keep the test's encoding simple: a one-byte tag"
            return bytes([tag, 2]) + b"\xff\xfe"
    return None


def _send(channel: grpc.Channel, path: str, method, raw: bytes) -> grpc.RpcError:
    if method.client_streaming:
        call = channel.stream_stream(path)(iter([raw]), timeout=10)
    elif method.server_streaming:
        call = channel.unary_stream(path)(raw, timeout=10)
    else:
        call = channel.unary_unary(path)
        try:
            call(raw, timeout=10)
        except grpc.RpcError as exc:
            return exc
        raise AssertionError(f"{path} accepted {raw!r}")
    try:
        list(call)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError(f"{path} accepted {raw!r}")


def _assert_invalid(error: grpc.RpcError, method) -> None:
    type_name = method.input_type.full_name
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert type_name in error.details()
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.reason == "UNDECODABLE_REQUEST"
            return
    raise AssertionError("no ErrorInfo")


def _refused(stack: Stack, path: str, method, raw: bytes) -> grpc.RpcError:
    error = _send(stack.channel("hall"), path, method, raw)
    if method.client_streaming and error.code() == grpc.StatusCode.PERMISSION_DENIED:
        # A stream's messages are read (and decoded) after authorisation: call as an issuer.
        error = _send(stack.channel("market"), path, method, raw)
    return error


def test_every_rpc_refuses_undecodable_bytes(stack: Stack, caplog):
    caplog.set_level(logging.INFO)
    sent = utf8_sent = 0
    for path, method in _methods():
        _assert_invalid(_refused(stack, path, method, GARBAGE), method)
        sent += 1
        bad = _bad_utf8(method)
        if bad is not None:
            _assert_invalid(_refused(stack, path, method, bad), method)
            utf8_sent += 1
    assert sent > 30 and utf8_sent > 20  # every RPC; most have a string field
    # The server keeps serving.
    reply = stack.diagnostics("hall").Ping(common_pb2.PingRequest(payload="still here"))
    assert reply is not None
    assert not [r for r in caplog.records if r.exc_info or r.exc_text], "a traceback was logged"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_a_stream_answers_the_messages_before_an_undecodable_one(stack: Stack):
    path = "/yihao.v1.Verifier/VerifyBatch"
    good = verifier_pb2.VerifyBatchRequest().SerializeToString()
    call = stack.channel("hall").stream_stream(
        path, response_deserializer=verifier_pb2.VerifyBatchResponse.FromString
    )(iter([good, GARBAGE]), timeout=10)
    answers = []
    with pytest.raises(grpc.RpcError) as caught:
        for answer in call:
            answers.append(answer)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "yihao.v1.VerifyBatchRequest" in caught.value.details()
    assert len(answers) == 1


def test_rate_limited_warning_counts_what_it_held_back(caplog):
    caplog.set_level(logging.WARNING)
    warning = decoding.RateLimitedWarning(logging.getLogger("test.ratelimited"), interval=3600)
    for _ in range(5):
        warning.warn("refused %s", "x")
    assert [r.getMessage() for r in caplog.records] == ["refused x"]
    warning._next_at = 0.0  # the interval has passed
    warning.warn("refused %s", "y")
    assert caplog.records[-1].getMessage() == "refused y (4 more since the last such line)"
