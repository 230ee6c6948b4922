"""The server stack: mutual TLS, identity, policy coverage, error mapping, health, reflection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from services.assistance.grpc_servicer import AssistanceServicer
from services.common.authz import POLICY
from services.common.pki import issue_client_cert, make_ca
from services.diagnostics import DiagnosticsServicer
from services.licence_store.grpc_servicer import LicenceStoreServicer
from services.verifier.grpc_servicer import VerifierServicer
from testsupport.stack import Stack
from yihao.v1 import (
    assistance_pb2,
    assistance_pb2_grpc,
    common_pb2,
    common_pb2_grpc,
    licence_store_pb2,
    licence_store_pb2_grpc,
    verifier_pb2,
    verifier_pb2_grpc,
)

SERVICERS = {
    "yihao.v1.Diagnostics": (common_pb2, DiagnosticsServicer, common_pb2_grpc.DiagnosticsServicer),
    "yihao.v1.LicenceStore": (
        licence_store_pb2,
        LicenceStoreServicer,
        licence_store_pb2_grpc.LicenceStoreServicer,
    ),
    "yihao.v1.Verifier": (verifier_pb2, VerifierServicer, verifier_pb2_grpc.VerifierServicer),
    "yihao.v1.Assistance": (
        assistance_pb2,
        AssistanceServicer,
        assistance_pb2_grpc.AssistanceServicer,
    ),
}


@pytest.fixture
def database_url(tmp_path) -> str:
    """The transport does not depend on the database: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def _ping(channel: grpc.Channel) -> common_pb2.PingResponse:
    return common_pb2_grpc.DiagnosticsStub(channel).Ping(
        common_pb2.PingRequest(payload="hi"), timeout=5
    )


def test_every_rpc_is_implemented_and_has_an_authorisation_rule():
    for full_name, (module, servicer, base) in SERVICERS.items():
        service = module.DESCRIPTOR.services_by_name[full_name.rsplit(".", 1)[1]]
        for method in service.methods:
            assert f"/{full_name}/{method.name}" in POLICY, f"no rule for {method.name}"
            assert getattr(servicer, method.name) is not getattr(base, method.name), method.name
    assert len(POLICY) == sum(
        len(m.DESCRIPTOR.services_by_name[n.rsplit(".", 1)[1]].methods)
        for n, (m, _s, _b) in SERVICERS.items()
    ), "the policy names an RPC that does not exist"


def test_the_caller_is_the_department_in_the_certificate(stack: Stack):
    reply = _ping(stack.channel("civil"))
    assert reply.caller_code == "113501009083016632"


def test_no_client_certificate_never_reaches_a_handler(stack: Stack):
    creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes())
    with (
        grpc.secure_channel(stack.address, creds) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _ping(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_from_another_ca_is_refused(stack: Stack):
    ca_cert, ca_key = make_ca("Some Other CA")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        Path(d, "ca.crt").write_bytes(ca_cert)
        Path(d, "ca.key").write_bytes(ca_key)
        cert, key = issue_client_cert(
            stack.pki,
            "11350100518190937A",
            "impostor",
            ca_cert=Path(d, "ca.crt"),
            ca_key=Path(d, "ca.key"),
        )
    creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes(), key, cert)
    with (
        grpc.secure_channel(stack.address, creds) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _ping(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_expired_certificate_is_refused(stack: Stack):
    now = datetime.now(UTC)
    cert, key = issue_client_cert(
        stack.pki,
        "11350100518190937A",
        "expired",
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )
    creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes(), key, cert)
    with (
        grpc.secure_channel(stack.address, creds) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _ping(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_of_an_unregistered_department_is_unauthenticated(stack: Stack):
    cert, key = issue_client_cert(stack.pki, "91350100M000100Y43", "a company, not a department")
    creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes(), key, cert)
    with (
        grpc.secure_channel(stack.address, creds) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        _ping(channel)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_unexpected_failure_is_internal_with_a_correlation_id_and_no_internals(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    def boom(*_args, **_kwargs):
        raise RuntimeError("secret table name licences_v2")

    monkeypatch.setattr(stack.app.licence_store.catalogue, "list_licence_types", boom)
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").ListLicenceTypes(licence_store_pb2.ListLicenceTypesRequest())
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in caught.value.details()
    status = rpc_status.from_call(caught.value)
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    correlation = info.metadata["correlation_id"]
    assert correlation in caught.value.details()
    assert any(correlation in r.getMessage() for r in caplog.records)


def test_health_reports_every_hosted_service(stack: Stack):
    stub = health_pb2_grpc.HealthStub(stack.channel("hall"))
    names = ("", "yihao.v1.LicenceStore", "yihao.v1.Verifier", "yihao.v1.Assistance")
    for name in (*names, "yihao.v1.Diagnostics"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(stack: Stack):
    stub = reflection_pb2_grpc.ServerReflectionStub(stack.channel("hall"))
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for s in next(replies).list_services_response.service}
    assert {"yihao.v1.LicenceStore", "yihao.v1.Diagnostics", "grpc.health.v1.Health"} <= names


def test_revoked_certificate_is_refused_before_any_handler(stack: Stack):
    from cryptography import x509

    cert, key = issue_client_cert(stack.pki, "11350100786579754C", "hall, second device")
    creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes(), key, cert)
    with grpc.secure_channel(stack.address, creds) as channel:
        assert _ping(channel).caller_code == "11350100786579754C"
        serial = format(x509.load_pem_x509_certificate(cert).serial_number, "X")
        stack.store("data").RevokeCertificate(
            licence_store_pb2.RevokeCertificateRequest(
                serial_number=serial, department_code="11350100786579754C", reason="device lost"
            )
        )
        with pytest.raises(grpc.RpcError) as caught:
            _ping(channel)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _ping(stack.channel("hall")).caller_code == "11350100786579754C"  # other certificates


def test_tls_13_is_negotiated(stack: Stack):
    """grpcio's server API has no minimum-version setting (core defaults: 1.2 to 1.3); this
    checks a current client gets TLS 1.3. The floor itself belongs to the load balancer."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=str(stack.pki.ca_cert()))
    code = "11350100786579754C"
    ctx.load_cert_chain(str(stack.pki.client_cert(code)), str(stack.pki.client_key(code)))
    ctx.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", stack.port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.3"
        assert tls.selected_alpn_protocol() == "h2"
