"""The forwarding side's own limit for lookups by holder sent to one peer: once spent, that
peer's part is CANNOT_CHECK at once (FORWARD_RATE_LIMITED) without calling it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.common.clock import FixedClock
from services.common.identifiers import parse_holder_number
from services.common.identity import Caller
from services.common.pki import init_region_identity
from services.common.ratelimit import Limit, LocalBuckets, RateLimiter
from services.common.signing import SigningKey
from services.federation.config import parse_federation
from services.federation.forwarder import FORWARD_RATE_LIMITED, REGION_UNAVAILABLE, Forwarder
from services.verifier.domain.verdict import Verdict
from services.verifier.results import Presented
from yihao.v1 import verifier_pb2 as pb

KEY = SigningKey.generate("yihao-receipt-k1")
HOLDER = "91350100M000100Y43"


def _config(tmp_path: Path):
    init_region_identity(tmp_path, "31")
    init_region_identity(tmp_path / "p35", "35")
    peer = {
        "region": "35",
        "endpoint": "127.0.0.1:1",  # nobody listens: refused at once
        "ca_certificate": "p35/ca.crt",
        "receipt_keys": [{"key_id": KEY.key_id, "public_key_pem": KEY.public().to_pem()}],
        "breaker": {"failures": 100},
    }
    data = {
        "region": "31",
        "listen": "127.0.0.1:7444",
        "certificate": "region.crt",
        "private_key": "region.key",
        "peers": [peer],
    }
    return parse_federation(data, tmp_path)


def test_lookups_by_holder_sent_to_a_peer_are_limited_on_the_forwarding_side(tmp_path):
    config = _config(tmp_path)
    limiter = RateLimiter(LocalBuckets(), {"forwarded_by_holder": Limit(0.001, 2)})
    forwarder = Forwarder(
        config, lambda: KEY, FixedClock(datetime(2026, 12, 4, tzinfo=UTC)), limiter=limiter
    )
    try:
        holder = parse_holder_number(HOLDER, "holder_number")
        (peer,) = forwarder.holder_peers(holder)
        request = pb.VerifyByHolderRequest(holder_number=HOLDER)
        presented = Presented(holder, "")

        def ask() -> tuple[Verdict, str, str]:
            (result,) = forwarder.forward_by_holder(
                Caller("11310000MA1GL0JD4K"), [peer], request, presented
            )
            return result.decision.verdict, result.decision.reason, result.region

        assert ask() == (Verdict.CANNOT_CHECK, REGION_UNAVAILABLE, "35")  # called: nobody there
        assert ask() == (Verdict.CANNOT_CHECK, REGION_UNAVAILABLE, "35")
        assert ask() == (Verdict.CANNOT_CHECK, FORWARD_RATE_LIMITED, "35")  # not called
    finally:
        forwarder.close()
