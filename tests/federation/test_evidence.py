"""Assertions and peer receipts: what regions prove to each other, checked without a network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.common.canonical import canonical_json, sha256_hex
from services.common.errors import Unauthenticated
from services.common.signing import SigningKey
from services.federation.evidence import (
    MAX_SKEW,
    VALIDITY,
    Stated,
    assertion_body,
    check_assertion,
    receipt_problem,
)
from services.verifier.domain.receipt import signed_part

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
KEY = SigningKey.generate("yihao-receipt-test1")
KEYS = {KEY.key_id: KEY.public()}
BATCH = b"\x0a\x02\x08\x01"


def _assertion(**changes) -> bytes:
    args = dict(
        department="11310000000000000X",
        from_region="31",
        to_region="35",
        rpc="VerifyLicence",
        batch=BATCH,
        at=NOW,
        purpose="开办企业",
        case_number="SH-1",
    )
    args.update(changes)
    return assertion_body(**args)


def _check(body: bytes, signature: bytes | None = None, **changes):
    args = dict(
        keys=KEYS, from_region="31", to_region="35", rpc="VerifyLicence", batch=BATCH, now=NOW
    )
    args.update(changes)
    return check_assertion(body, KEY.key_id, signature or KEY.sign(body), **args)


def test_a_good_assertion_states_the_department_purpose_and_case():
    body = _assertion()
    asserted = _check(body)
    assert (asserted.department, asserted.purpose, asserted.case_number) == (
        "11310000000000000X",
        "开办企业",
        "SH-1",
    )
    assert asserted.sha256 == sha256_hex(body)


def test_a_region_may_state_its_department_acts_as_its_supervisor_and_nothing_else():
    assert _check(_assertion()).supervisor is False
    assert _check(_assertion(extra={"acting_as": "supervisor"})).supervisor is True
    with pytest.raises(Unauthenticated, match="acting_as") as refused:
        _check(_assertion(extra={"acting_as": "provider"}))
    assert refused.value.reason == "ASSERTION_INVALID"


@pytest.mark.parametrize(
    "changes",
    [
        {"from_region": "44"},  # another region's assertion
        {"to_region": "44"},  # meant for another region
        {"rpc": "VerifyBatch"},  # for another RPC
        {"batch": b"other items"},  # for other items
        {"now": NOW - timedelta(minutes=1)},  # issued in the future (beyond the skew)
    ],
)
def test_an_assertion_for_another_question_is_refused(changes):
    with pytest.raises(Unauthenticated, match="assertion") as refused:
        _check(_assertion(), **changes)
    assert refused.value.reason == "ASSERTION_INVALID"


def test_an_assertion_is_good_for_its_short_validity_and_the_skew_only():
    body = _assertion()
    stated = json.loads(body)
    assert stated["expires_at"] == (NOW + VALIDITY).isoformat()
    assert len(stated["nonce"]) == 32 and stated["nonce"] != json.loads(_assertion())["nonce"]
    asserted = _check(body, now=NOW + VALIDITY + MAX_SKEW)  # at the very end: still good
    assert (asserted.nonce, asserted.expires_at) == (stated["nonce"], NOW + VALIDITY)
    with pytest.raises(Unauthenticated, match="expired") as refused:
        _check(body, now=NOW + VALIDITY + MAX_SKEW + timedelta(seconds=1))
    assert refused.value.reason == "ASSERTION_EXPIRED"


def _signed_with(**fields) -> bytes:
    data = json.loads(_assertion())
    data.update(fields)
    return canonical_json(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_at": (NOW + timedelta(hours=1)).isoformat()},  # claims too long a validity
        {"expires_at": NOW.isoformat()},  # no validity at all
        {"expires_at": "2026-12-04T09:01:00"},  # no time zone
        {"nonce": ""},  # no nonce
        {"nonce": "../" * 12},  # not a nonce
    ],
)
def test_an_assertion_without_a_proper_nonce_or_validity_is_refused(fields):
    with pytest.raises(Unauthenticated) as refused:
        _check(_signed_with(**fields))
    assert refused.value.reason == "ASSERTION_INVALID"


def test_extra_statements_cannot_override_the_assertions_own():
    body = _assertion(extra={"department": "113500000000000000", "consent_grant_id": "G1"})
    data = json.loads(body)
    assert (data["department"], data["consent_grant_id"]) == ("11310000000000000X", "G1")


def test_an_assertion_not_signed_by_a_published_key_is_refused():
    body = _assertion()
    with pytest.raises(Unauthenticated):
        _check(body, SigningKey.generate("yihao-receipt-other").sign(body))
    with pytest.raises(Unauthenticated):
        _check(body, keys={})


def _receipt(**changes) -> bytes:
    body = {
        "answers": [{"verdict": "valid", "licence_id": "L1", "content_sha256": "ab"}],
        "issued_at": NOW.isoformat(),
        "receipt_id": "R1",
        "requester": "11310000000000000X",
        "via": {"region": "31", "assertion_sha256": "f00"},
    }
    body.update(changes)
    return canonical_json(body)


def _problem(
    body: bytes, signature: bytes | None = None, answers=None, algorithm: str = "Ed25519-SHA256"
) -> str:
    return receipt_problem(
        body,
        KEY.key_id,
        algorithm,
        signature or KEY.sign(signed_part(algorithm, body)[1]),
        keys=KEYS,
        receipt_id="R1",
        department="11310000000000000X",
        own_region="31",
        assertion_sha256="f00",
        answers=answers or [Stated("valid", "L1", "ab", "R1")],
    )


def test_a_peer_receipt_vouches_for_exactly_what_was_answered():
    assert _problem(_receipt()) == ""
    assert _problem(_receipt(), KEY.sign(b"something else")) == "signature"
    assert _problem(_receipt(requester="113500000000000000")) == "receipt_id or requester"
    assert _problem(_receipt(via={"region": "44", "assertion_sha256": "f00"})) == "via"
    assert _problem(_receipt(via={"region": "31", "assertion_sha256": "bad"})) == "via"
    # the answer says VALID, the signed receipt says REVOKED
    revoked = _receipt(answers=[{"verdict": "revoked", "licence_id": "L1", "content_sha256": "ab"}])
    assert _problem(revoked) == "answer"
    assert _problem(_receipt(), answers=[Stated("valid", "L1", "ab", "R2")]) == "answer"
    assert _problem(_receipt(), answers=[Stated("valid", "L1", "ab", "R1")] * 2) == "answers"
    assert json.loads(_receipt())["via"]["region"] == "31"


def test_a_peer_receipt_is_checked_as_its_algorithm_says():
    body = _receipt()
    # As receipts are signed today (over the body's digest), and as a peer made them before
    # (over the body itself): both vouch.
    assert _problem(body) == ""
    assert _problem(body, algorithm="Ed25519") == ""
    # A signature read as the other scheme than it was made under does not verify.
    assert _problem(body, KEY.sign(body), algorithm="Ed25519-SHA256") == "signature"
    digest_signature = KEY.sign(signed_part("Ed25519-SHA256", body)[1])
    assert _problem(body, digest_signature, algorithm="Ed25519") == "signature"
    # Nor under an algorithm its key is not of.
    assert _problem(body, KEY.sign(body), algorithm="Ed448") == "signature"
