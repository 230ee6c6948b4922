"""A server fails closed on a database whose log is behind the signed head it kept outside it
(services.common.trusted_head), against real server processes on SQLite: an older copy of the
database restored while it was stopped, and one restored under a running server."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.server import SERVICE_NAMES
from tests.test_audit_monitor import backup, issue, restore, start_monitor
from testsupport.processes import free_port
from testsupport.serverproc import ServerProcess, server_process
from yihao.v1 import common_pb2, common_pb2_grpc, verifier_pb2_grpc
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

REASON = "LOG_BEHIND_TRUSTED_HEAD"


def verifier(server: ServerProcess) -> verifier_pb2_grpc.VerifierStub:
    return verifier_pb2_grpc.VerifierStub(server.channel("hall"))


def verdict(server: ServerProcess, licence_id: str) -> int:
    request = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id))
    return int(verifier(server).VerifyLicence(request).verdict)


def revoke(server: ServerProcess, licence_id: str) -> None:
    server.store("market").RevokeLicence(
        pb.StatusChangeRequest(
            idempotency_key="trusted-head-revoke",
            licence=pb.LicenceRef(licence_id=licence_id),
            reason_code="FRAUD",
        )
    )


def refusal(call: object) -> tuple[grpc.StatusCode, str]:
    """(code, ErrorInfo reason) of a refused call."""
    assert isinstance(call, grpc.RpcError)
    status = rpc_status.from_call(call)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return call.code(), info.reason  # type: ignore[attr-defined]
    return call.code(), ""  # type: ignore[attr-defined]


def health(server: ServerProcess, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(server.channel("data"))
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)


def assert_refuses(server: ServerProcess, licence_id: str) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        verdict(server, licence_id)
    assert refusal(refused.value) == (grpc.StatusCode.FAILED_PRECONDITION, REASON)
    with pytest.raises(grpc.RpcError) as head:  # no head signed over the rolled-back log
        verifier(server).GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    assert refusal(head.value) == (grpc.StatusCode.FAILED_PRECONDITION, REASON)
    for name in ("", SERVICE_NAMES["verifier"], SERVICE_NAMES["licence_store"]):
        assert health(server, name) == health_pb2.HealthCheckResponse.NOT_SERVING, name
    # Diagnostics still answer (the operator can reach the process).
    common_pb2_grpc.DiagnosticsStub(server.channel("hall")).Ping(common_pb2.PingRequest())


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    assert values, text
    return float(values[0])


def test_an_older_copy_restored_while_stopped_is_refused_at_start(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    database, earlier = var_dir / "yihao.db", tmp_path / "earlier.db"
    with server_process(None, var_dir=var_dir) as server:
        port = server.port
        licence = issue(server)
        assert verdict(server, licence) == vpb.VERDICT_VALID
        backup(database, earlier)
        revoke(server, licence)  # the issuer withdraws it after the copy was taken
        assert verdict(server, licence) == vpb.VERDICT_REVOKED
    # A graceful stop signed a last head covering the revocation and kept it outside.
    assert (var_dir / "trusted-head.json").exists()
    restore(earlier, database)
    metrics_port = free_port()
    log_file = tmp_path / "restarted.log"
    with server_process(
        None,
        var_dir=var_dir,
        port=port,
        serving=False,
        log_file=log_file,
        YIHAO_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
    ) as server:
        assert_refuses(server, licence)  # never VALID from the restored copy
        assert metric(metrics_port, "yihao_log_behind_trusted_head") == 1.0
        # An audit monitor asking this server reports it as loudly as a log it saw shrink.
        monitor = start_monitor(server, tmp_path / "monitor", 1)
        _, err = monitor.communicate(timeout=60)
    assert monitor.returncode == 1, err
    assert "INCONSISTENT LOG: the server refuses" in err and "behind" in err, err
    errors = [line for line in log_file.read_text().splitlines() if "ERROR" in line]
    assert any("TRUSTED HEAD" in line and "behind" in line for line in errors), errors


def test_a_normal_restart_serves(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    with server_process(None, var_dir=var_dir) as server:
        port = server.port
        licence = issue(server)
        revoke(server, licence)
    with server_process(None, var_dir=var_dir, port=port) as server:
        assert health(server) == health_pb2.HealthCheckResponse.SERVING
        assert verdict(server, licence) == vpb.VERDICT_REVOKED


CHECK_SECONDS = 1


def test_an_older_copy_restored_under_a_running_server_is_refused_within_the_interval(
    tmp_path: Path,
) -> None:
    var_dir = tmp_path / "var"
    database, earlier, newer = var_dir / "yihao.db", tmp_path / "earlier.db", tmp_path / "newer.db"
    with server_process(
        None, var_dir=var_dir, YIHAO_TRUSTED_HEAD_CHECK_SECONDS=str(CHECK_SECONDS)
    ) as server:
        licence = issue(server)
        backup(database, earlier)
        revoke(server, licence)
        assert verdict(server, licence) == vpb.VERDICT_REVOKED
        verifier(server).GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))  # kept outside
        backup(database, newer)
        backup(earlier, database)  # the older copy written over the live database
        restored = time.monotonic()
        while True:
            try:
                answer = verdict(server, licence)
            except grpc.RpcError as exc:
                assert refusal(exc) == (grpc.StatusCode.FAILED_PRECONDITION, REASON)
                break
            assert answer != vpb.VERDICT_VALID or time.monotonic() - restored < CHECK_SECONDS + 3
            assert time.monotonic() - restored < CHECK_SECONDS + 5, "never refused"
            time.sleep(0.1)
        caught = time.monotonic() - restored
        print(f"rollback refused {caught:.1f} s after the older copy was restored")
        assert_refuses(server, licence)
        backup(newer, database)  # the newer database put back: the server serves again
        deadline = time.monotonic() + CHECK_SECONDS + 5
        while health(server) != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "still refusing the newer database"
            time.sleep(0.1)
        assert verdict(server, licence) == vpb.VERDICT_REVOKED
