"""Every RPC of every service, called by a department holding each single role.

The expected decision comes from the policy table; the test fails for an RPC that has no
rule (a new RPC must be given one), and for any RPC whose real answer disagrees with the
table: denied calls must fail with PERMISSION_DENIED / ROLE_REQUIRED before any handler runs,
allowed calls must get past authorisation (whatever the handler then says of the empty
request).
"""

from __future__ import annotations

import random

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from stdnum.cn import uscc

from services.common.authz import POLICY
from services.common.pki import issue_client_cert
from services.common.roles import Role
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2

MODULES = (common_pb2, licence_store_pb2, verifier_pb2, assistance_pb2)


def _credit_code(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    code17 = "11350100" + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return code17 + uscc.calc_check_digit(code17)


def _methods():
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"/{service.full_name}/{method.name}", method


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


@pytest.fixture
def role_channels(stack: Stack):
    rng = random.Random(20261121)
    channels = {}
    for role in Role:
        code = _credit_code(rng)
        stack.app.licence_store.register_department(
            code, f"测试部门-{role.value}", "350100", [role]
        )
        cert, key = issue_client_cert(stack.pki, code, f"test {role.value}")
        creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes(), key, cert)
        channels[role] = grpc.secure_channel(stack.address, creds)
    yield channels
    for ch in channels.values():
        ch.close()


def _call(channel: grpc.Channel, path: str, method) -> grpc.RpcError | None:
    request = method.input_type._concrete_class()
    serialize = type(request).SerializeToString
    deserialize = method.output_type._concrete_class.FromString
    if method.client_streaming and method.server_streaming:
        call = channel.stream_stream(path, serialize, deserialize)(iter([request]), timeout=10)
    elif method.server_streaming:
        call = channel.unary_stream(path, serialize, deserialize)(request, timeout=10)
    elif method.client_streaming:
        call = channel.stream_unary(path, serialize, deserialize)
        try:
            call(iter([request]), timeout=10)
        except grpc.RpcError as exc:
            return exc
        return None
    else:
        try:
            channel.unary_unary(path, serialize, deserialize)(request, timeout=10)
        except grpc.RpcError as exc:
            return exc
        return None
    try:
        list(call)
    except grpc.RpcError as exc:
        return exc
    return None


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def test_every_rpc_has_a_rule():
    assert {path for path, _ in _methods()} == set(POLICY)


def test_every_rpc_against_every_role(role_channels, stack: Stack):
    mismatches = []
    for path, method in _methods():
        if method.server_streaming and method.name.startswith("Watch"):
            continue  # checked below without follow (a follow stream never ends)
        for role, channel in role_channels.items():
            error = _call(channel, path, method)
            denied = error is not None and _reason(error) == "ROLE_REQUIRED"
            if denied == (role in POLICY[path]):
                mismatches.append((path, role.value, error.code() if error else "OK"))
    assert not mismatches


def test_watch_streams_are_authorised_too(role_channels):
    for path, method in _methods():
        if not method.name.startswith("Watch"):
            continue
        for role, channel in role_channels.items():
            error = _call(channel, path, method)  # follow=false: ends after the backlog
            denied = error is not None and _reason(error) == "ROLE_REQUIRED"
            assert denied != (role in POLICY[path]), (path, role)
