"""The owning region against a peer that repeats itself: a forwarded assertion is good once and
for a short while, and each calling region has its own rate limit (real regions: conftest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from clients.errors import from_grpc_error
from services.app import build_app
from services.common.authz import FEDERATION_RPCS
from services.common.signing import SigningKey
from services.federation.evidence import MAX_SKEW, VALIDITY, assertion_body
from testsupport.regions import Region, holder_code, issue
from yihao.v1 import common_pb2 as common
from yihao.v1 import federation_pb2 as fpb
from yihao.v1 import federation_pb2_grpc as fpb_grpc
from yihao.v1 import licence_store_pb2 as spb
from yihao.v1 import verifier_pb2 as pb
from yihao.v1 import verifier_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres


def _receipt_key(region: Region) -> SigningKey:
    """The region's receipt signing key, read from its (stopped) store as its server would."""
    app = build_app(region.settings().with_overrides(federation_file=None))
    try:
        return app.verifier.receipt_keys.signing_key()
    finally:
        app.close()


@pytest.fixture(scope="module")
def as_c(regions):
    """A Federation stub to A under C's federation identity, and C's receipt key."""
    a, _, c = regions
    ident = c.var_dir / "federation"
    creds = grpc.ssl_channel_credentials(
        (a.var_dir / "federation" / "ca.crt").read_bytes(),
        (ident / "region.key").read_bytes(),
        (ident / "region.crt").read_bytes(),
    )
    channel = grpc.secure_channel(f"127.0.0.1:{a.federation_port}", creds)
    yield fpb_grpc.FederationStub(channel), _receipt_key(c)
    channel.close()


def _request(
    c: Region, key: SigningKey, licence_id: str, at: datetime
) -> fpb.FederatedVerifyRequest:
    item = pb.VerifyLicenceRequest(licence=spb.LicenceRef(licence_id=licence_id))
    batch = pb.VerifyBatchRequest(items=[item]).SerializeToString()
    body = assertion_body(
        department=c.hall, from_region="44", to_region="35", rpc="VerifyLicence", batch=batch, at=at
    )
    signature = common.Signature(key_id=key.key_id, algorithm=key.algorithm, value=key.sign(body))
    return fpb.FederatedVerifyRequest(
        batch=batch, assertion=fpb.Assertion(body_json=body, signature=signature)
    )


def _refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def _reason(error: grpc.RpcError) -> str:
    return from_grpc_error(error).reason


def test_an_assertion_is_answered_once_and_not_after_it_expires(regions, as_c):
    a, _, c = regions
    stub, key = as_c
    licence_id = issue(a, "A-R001", holder_code(a, 101))
    request = _request(c, key, licence_id, datetime.now(UTC))
    first = stub.VerifyLicence(request, timeout=10)
    assert first.results[0].verdict == pb.VERDICT_VALID and first.receipt.receipt_id
    replayed = _refusal(lambda: stub.VerifyLicence(request, timeout=10))
    assert replayed.code() == grpc.StatusCode.UNAUTHENTICATED
    assert _reason(replayed) == "ASSERTION_REPLAYED"
    stale = _request(c, key, licence_id, datetime.now(UTC) - VALIDITY - MAX_SKEW - timedelta(1))
    expired = _refusal(lambda: stub.VerifyLicence(stale, timeout=10))
    assert (expired.code(), _reason(expired)) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "ASSERTION_EXPIRED",
    )


def test_each_calling_region_has_its_own_rate_limit(regions, as_c):
    a, b, c = regions
    stub, key = as_c
    licence_id = issue(a, "A-R002", holder_code(a, 102))
    refused = None
    for _ in range(200):
        try:
            stub.VerifyLicence(_request(c, key, licence_id, datetime.now(UTC)), timeout=10)
        except grpc.RpcError as exc:
            refused = exc
            break
    assert refused is not None, "region 44 was never rate limited"
    assert (refused.code(), _reason(refused)) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "RATE_LIMITED",
    )
    assert "region:44" in (refused.details() or "")
    # region 31's budget is its own: its counter is still answered through A
    seen = pb_grpc.VerifierStub(b.channel(b.hall)).VerifyLicence(
        pb.VerifyLicenceRequest(licence=spb.LicenceRef(licence_id=licence_id)), timeout=10
    )
    assert (seen.verdict, seen.region) == (pb.VERDICT_VALID, "35")


@pytest.mark.parametrize("rpc", [r for r in FEDERATION_RPCS if r != "VerifyLicence"])
def test_a_peer_calls_only_the_federation_rpcs_its_policy_allows(regions, as_c, rpc):
    """The federation side of the authorisation matrix: A lets C call VerifyLicence only;
    every other federation RPC is refused before anything else is looked at."""
    stub, _ = as_c
    method = getattr(stub, rpc)
    request = (
        fpb.FederatedAssistanceRequest() if "Assistance" in rpc else fpb.FederatedVerifyRequest()
    )
    refused = _refusal(lambda: method(request, timeout=10))
    assert (refused.code(), _reason(refused)) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "FEDERATION_RPC_NOT_ALLOWED",
    )
