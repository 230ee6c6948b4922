"""Withdrawn trust reaches every process within the stated bound.

Two real server processes share one store. A client certificate revoked through one process
is refused by the other, and a signing key marked compromised through one process stops the
other answering VALID for what it signed, each within ``BOUND_SECONDS`` (1 s) of the call
returning — measured, on SQLite and on PostgreSQL, without Redis. Before the trust
generation, the other process kept its caches for their whole life: 2 s for the revocation
list, 5 s for public keys.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.pki import certificate_serial
from services.common.trust import BOUND_SECONDS
from services.licence_store import demo
from testsupport.processes import PostgresServer
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import server_process
from yihao.v1 import common_pb2 as common
from yihao.v1 import common_pb2_grpc as common_grpc
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _url(backend: str, request: pytest.FixtureRequest, name: str) -> str | None:
    if backend == "sqlite":
        return None
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(name)


def _until(condition, limit: float) -> float:
    """Seconds until ``condition()`` held (polled every 10 ms), or ``limit`` + 1 if never."""
    start = time.monotonic()
    while time.monotonic() - start < limit + 1:
        if condition():
            return time.monotonic() - start
        time.sleep(0.01)
    return limit + 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_revoked_certificate_is_refused_by_every_process_within_the_bound(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
):
    url = _url(backend, request, "trust_revoke")
    with server_process(url, var_dir=tmp_path) as a, server_process(url, var_dir=tmp_path) as b:
        hall = demo.ALIASES["hall"]
        pem = (tmp_path / "pki" / "clients" / f"{hall}.crt").read_bytes()
        ping_b = common_grpc.DiagnosticsStub(b.channel("hall"))
        for _ in range(20):  # b has the revocation list cached
            ping_b.Ping(common.PingRequest())

        def refused() -> bool:
            try:
                ping_b.Ping(common.PingRequest(), timeout=5)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
                return True
            return False

        a.store("data").RevokeCertificate(
            pb.RevokeCertificateRequest(
                serial_number=certificate_serial(pem), department_code=hall, reason="lost"
            )
        )
        elapsed = _until(refused, BOUND_SECONDS)
    print(f"revoked certificate refused by the other process after {elapsed:.3f} s")
    assert elapsed <= BOUND_SECONDS, f"process b accepted a revoked certificate for {elapsed} s"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_compromised_key_stops_valid_answers_on_every_process_within_the_bound(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
):
    url = _url(backend, request, "trust_compromise")
    with server_process(url, var_dir=tmp_path) as a, server_process(url, var_dir=tmp_path) as b:
        before = datetime.now(UTC) - timedelta(seconds=5)
        licence = a.store("market").IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key="trust-compromise-1",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number="TRUST-1",
                holder=common.Holder(number="91350100M000100Y43", name="示例"),
                fields=BUSINESS_FIELDS,
            )
        )
        ask = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
        verify_b = vgrpc.VerifierStub(b.channel("hall"))
        for _ in range(20):  # b has the key (and the verified version) remembered
            assert verify_b.VerifyLicence(ask).verdict == vpb.VERDICT_VALID
        market = a.store("data").GetDepartment(
            pb.GetDepartmentRequest(credit_code=demo.ALIASES["market"])
        )
        since = Timestamp()
        since.FromDatetime(before)
        a.store("data").MarkKeyCompromised(
            pb.MarkKeyCompromisedRequest(key_id=market.signing_keys[0].key_id, compromised_at=since)
        )
        elapsed = _until(
            lambda: verify_b.VerifyLicence(ask).verdict != vpb.VERDICT_VALID, BOUND_SECONDS
        )
        assert verify_b.VerifyLicence(ask).verdict != vpb.VERDICT_VALID
    print(f"compromised key: the other process stopped answering VALID after {elapsed:.3f} s")
    assert elapsed <= BOUND_SECONDS, f"process b answered VALID for {elapsed} s"
