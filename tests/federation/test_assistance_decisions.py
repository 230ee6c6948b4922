"""A peer's assistance decision is taken only when its signed statement vouches for exactly
what the peer says: this request, this department from this region, the status, the answer."""

from __future__ import annotations

from types import SimpleNamespace

from services.assistance.domain.requests import answer_sha256
from services.common.canonical import canonical_json
from services.common.signing import SigningKey
from services.federation.assistance_client import decision_problem
from yihao.v1 import assistance_pb2 as apb

KEY = SigningKey.generate("yihao-receipt-k35")
DEPT = "11310000524461246U"
ANSWER = {"result": "FOUND", "licence_number": "A-1"}


def _sha(answer: dict[str, str]) -> str:
    return answer_sha256(answer)


def _decided(**changes) -> apb.AssistanceRequest:
    body = {
        "request_id": "A1",
        "requester": DEPT,
        "requester_region": "31",
        "status": "answered",
        "answer_sha256": _sha(ANSWER),
    }
    body.update(changes)
    signed = canonical_json(body, plain=True)
    return apb.AssistanceRequest(
        request_id="A1",
        status=apb.REQUEST_STATUS_ANSWERED,
        answer=ANSWER,
        decision_body=signed,
        decision_signature=KEY.sign(signed),
        decision_key_id=KEY.key_id,
    )


def _problem(got: apb.AssistanceRequest, keys=None) -> str:
    peer = SimpleNamespace(receipt_keys=keys if keys is not None else {KEY.key_id: KEY.public()})
    return decision_problem(peer, SimpleNamespace(code=DEPT), got, "31")  # type: ignore[arg-type]


def test_a_decision_is_taken_only_as_signed():
    assert _problem(_decided()) == ""
    assert _problem(_decided(), keys={}) == "signature"  # not a published key of the peer
    for changed in (
        {"request_id": "A2"},
        {"requester": "11310000000000000X"},
        {"requester_region": "44"},
        {"status": "refused"},
        {"answer_sha256": _sha({"result": "NO_RECORD"})},  # the answer given is not the one signed
    ):
        assert _problem(_decided(**changed)) == "statement", changed
    tampered = _decided()
    tampered.answer["licence_number"] = "A-2"
    assert _problem(tampered) == "statement"
    forged = _decided()
    forged.decision_signature = SigningKey.generate("yihao-receipt-k35").sign(forged.decision_body)
    assert _problem(forged) == "signature"
