"""from_grpc_error: real gRPC failures (from a real server) back into the Yihao hierarchy."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from clients.errors import from_grpc_error
from services.common import errors as e
from services.common.grpc_errors import to_status
from yihao.v1 import common_pb2, common_pb2_grpc


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class Aborting(common_pb2_grpc.DiagnosticsServicer):
    """Ping fails with whatever status the test put in ``statuses`` under the payload."""

    def __init__(self) -> None:
        self.statuses: dict[str, object] = {}

    def Ping(self, request, context):
        outcome = self.statuses[request.payload]
        if isinstance(outcome, status_pb2.Status):
            context.abort_with_status(rpc_status.to_status(outcome))
        if isinstance(outcome, grpc.StatusCode):
            context.abort(outcome, f"plain {outcome.name}")
        raise RuntimeError("boom")  # the server turns this into UNKNOWN


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Aborting, common_pb2_grpc.DiagnosticsStub, grpc.Channel]]:
    servicer = Aborting()
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    common_pb2_grpc.add_DiagnosticsServicer_to_server(servicer, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield servicer, common_pb2_grpc.DiagnosticsStub(channel), channel
    srv.stop(grace=None)


def _failure(server, outcome: object) -> e.YihaoError:
    servicer, stub, _ = server
    key = str(len(servicer.statuses))
    servicer.statuses[key] = outcome
    with pytest.raises(grpc.RpcError) as caught:
        stub.Ping(common_pb2.PingRequest(payload=key), timeout=5)
    return from_grpc_error(caught.value)


def test_bad_request_becomes_invalid_argument_with_violations(server) -> None:
    status = status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message="证照编号不合法",
        details=[
            _pack(
                error_details_pb2.ErrorInfo(
                    reason="CHECK_CHARACTER",
                    domain="yihao.gov.cn",
                    metadata={"field": "holder.number"},
                )
            ),
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="holder.number", description="check character", reason="CHECK"
                        ),
                        error_details_pb2.BadRequest.FieldViolation(
                            field="valid_from", description="not a date"
                        ),
                    ]
                )
            ),
        ],
    )
    error = _failure(server, status)
    assert type(error) is e.InvalidArgument
    assert (error.status, error.reason, error.message) == (
        "INVALID_ARGUMENT",
        "CHECK_CHARACTER",
        "证照编号不合法",
    )
    assert error.metadata == {"field": "holder.number"}
    assert error.violations == [
        e.FieldViolation("holder.number", "check character", "CHECK"),
        e.FieldViolation("valid_from", "not a date", "INVALID"),
    ]


def test_retry_info_becomes_retry_after(server) -> None:
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED,
        message="slow down",
        details=[
            _pack(
                error_details_pb2.RetryInfo(
                    retry_delay=duration_pb2.Duration(seconds=2, nanos=500_000_000)
                )
            )
        ],
    )
    error = _failure(server, status)
    assert isinstance(error, e.ResourceExhausted)
    assert error.retry_after == 2.5
    assert error.reason == "RATE_LIMITED"


def test_request_info_lands_in_metadata(server) -> None:
    status = status_pb2.Status(
        code=code_pb2.INTERNAL,
        message="oops",
        details=[_pack(error_details_pb2.RequestInfo(request_id="req-42"))],
    )
    error = _failure(server, status)
    assert isinstance(error, e.Internal)
    assert error.metadata == {"request_id": "req-42"}


@pytest.mark.parametrize(
    "error",
    [
        e.InvalidArgument.field("holder.number", "check character is wrong", "CHECK_CHARACTER"),
        e.NotFound("no such licence", reason="LICENCE_NOT_FOUND", metadata={"ref": "T:1"}),
        e.AlreadyExists("exists"),
        e.FailedPrecondition("revoked licences stay revoked", reason="TERMINAL_STATUS"),
        e.Conflict("key reused with another body", reason="IDEMPOTENCY_KEY_REUSED"),
        e.PermissionDenied("not an issuer of this type", reason="NOT_ISSUER"),
        e.Unauthenticated("no client certificate"),
        e.ResourceExhausted("too many requests", retry_after=0.25),
        e.Unavailable("draining"),
        e.DeadlineExceeded("commit timeout", reason="COMMIT_TIMEOUT"),
        e.Internal("quote correlation id abc", metadata={"correlation_id": "abc"}),
    ],
    ids=lambda err: type(err).__name__,
)
def test_round_trip_through_the_server_error_mapping(server, error: e.YihaoError) -> None:
    """What the server's interceptor sends, the client rebuilds as the same error."""
    rebuilt = _failure(server, rpc_status_of(error))
    assert type(rebuilt) is type(error)
    assert (rebuilt.status, rebuilt.reason, rebuilt.message, rebuilt.metadata) == (
        error.status,
        error.reason,
        error.message,
        error.metadata,
    )
    assert getattr(rebuilt, "violations", None) == getattr(error, "violations", None)
    assert getattr(rebuilt, "retry_after", None) == getattr(error, "retry_after", None)


def rpc_status_of(error: e.YihaoError) -> status_pb2.Status:
    status = to_status(error)
    return status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])


@pytest.mark.parametrize(
    ("code", "cls", "status"),
    [
        (grpc.StatusCode.NOT_FOUND, e.NotFound, "NOT_FOUND"),
        (grpc.StatusCode.UNAVAILABLE, e.Unavailable, "UNAVAILABLE"),
        (grpc.StatusCode.CANCELLED, e.Unavailable, "CANCELLED"),
        (grpc.StatusCode.OUT_OF_RANGE, e.InvalidArgument, "OUT_OF_RANGE"),
        (grpc.StatusCode.DATA_LOSS, e.Internal, "DATA_LOSS"),
    ],
)
def test_plain_status_without_details(server, code, cls, status) -> None:
    error = _failure(server, code)
    assert type(error) is cls
    assert error.status == status
    assert error.message == f"plain {code.name}"
    expected_reason = cls.default_reason if cls.status == status else status
    assert error.reason == expected_reason


def test_exception_in_servicer_is_unknown_folded_into_internal(server) -> None:
    error = _failure(server, RuntimeError)
    assert isinstance(error, e.Internal)
    assert (error.status, error.reason) == ("UNKNOWN", "UNKNOWN")


def test_unimplemented_method_is_internal(server) -> None:
    channel = server[2]
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/yihao.v1.Nothing/Here")(b"", timeout=5)
    error = from_grpc_error(caught.value)
    assert isinstance(error, e.Internal)
    assert (error.status, error.reason) == ("UNIMPLEMENTED", "UNIMPLEMENTED")


def test_rpc_error_that_is_not_a_call() -> None:
    error = from_grpc_error(grpc.RpcError("odd"))
    assert isinstance(error, e.Internal)
    assert error.status == "UNKNOWN"
    assert error.message == "odd"


def test_connection_refused_is_unavailable() -> None:
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        stub = common_pb2_grpc.DiagnosticsStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Ping(common_pb2.PingRequest(), timeout=5)
    error = from_grpc_error(caught.value)
    assert type(error) is e.Unavailable
    assert error.status == "UNAVAILABLE"
