"""Assistance decisions are signed statements bound to their own id and log entry, checked as
a client would (published key, body, log inclusion) and by ``yihao audit verify``."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import insert, select, update

from services.assistance.persistence.tables import assistance_requests
from services.audit import verify
from services.common import merkle
from services.common.audit_log import leaf_data
from services.common.evidence import Entry
from services.common.signing import PublicKey
from tests.assistance.test_assistance_scenario import GRADUATE, HUSBAND, marry, submit
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import verifier_pb2 as vpb


def canonical(value: object) -> bytes:
    """RFC 8785 for the plain values here (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def client_check(stack: Stack, decided: apb.AssistanceRequest) -> dict[str, object]:
    """What a requester can check with public answers only; the body, once it holds."""
    body = json.loads(decided.decision_body)
    assert body["type"] == "yihao.assistance-decision.v1"
    assert body["request_id"] == decided.request_id  # bound to its own id
    assert (body["requester"], body["provider"]) == (decided.requester_code, decided.provider_code)
    answer = dict(sorted(decided.answer.items()))
    assert body["answer_sha256"] == hashlib.sha256(canonical(answer)).hexdigest()
    keys = stack.verifier("hall").GetIssuerKeys(vpb.GetIssuerKeysRequest()).receipt_keys
    [pem] = [k.public_key_pem for k in keys if k.key_id == decided.decision_key_id]
    public = PublicKey.from_pem(decided.decision_key_id, pem)
    assert public.verify(decided.decision_body, decided.decision_signature)
    # Its log entry commits to the statement and the signature, under a signed head.
    stack.verifier("hall").GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    proof = stack.verifier("hall").GetInclusionProof(
        vpb.GetInclusionProofRequest(ref=decided.request_id)
    )
    sealed = {
        "body": decided.decision_body.decode(),
        "signature": decided.decision_signature.hex(),
        "key_id": decided.decision_key_id,
    }
    payload = hashlib.sha256(canonical(sealed)).hexdigest()
    assert proof.payload_sha256 == payload
    leaf = merkle.leaf_hash(leaf_data(Entry("assistance_decision", decided.request_id, payload)))
    assert leaf == proof.leaf_hash
    assert merkle.verify_inclusion(
        leaf, proof.leaf_index, proof.head.tree_size, list(proof.path), proof.head.root_hash
    )
    return dict(body)


def audit(stack: Stack):
    with stack.app.db.read() as conn:
        return verify(
            conn,
            stack.app.verifier.log_keys,
            stack.app.read.codec,
            decision_keys=stack.app.verifier.receipt_keys,
        )


def test_automatic_answers_manual_answers_and_refusals_are_signed(stack: Stack):
    marry(stack)
    automatic = submit(stack, "police", "XZXZ-MZ-001", HUSBAND, "signed-1")
    assert automatic.status == apb.REQUEST_STATUS_ANSWERED
    assert client_check(stack, automatic)["status"] == "answered"
    pending = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "signed-2")
    assert not pending.decision_body  # nothing decided yet, nothing signed
    refused = stack.assistance("police").Refuse(
        apb.RefuseRequest(request_id=pending.request_id, ground="NOT_HELD", explanation="无记录")
    )
    body = client_check(stack, refused)
    assert (body["status"], body["refusal_ground"]) == ("refused", "NOT_HELD")
    shown = stack.assistance("hrss").GetRequest(
        apb.GetRequestRequest(request_id=pending.request_id)
    )
    assert shown.decision_signature == refused.decision_signature  # read back as signed
    assert audit(stack).ok


def test_an_edited_decision_and_a_copied_one_are_named(stack: Stack):
    marry(stack)
    answered = submit(stack, "police", "XZXZ-MZ-001", HUSBAND, "signed-3")
    refused_id = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "signed-4").request_id
    stack.assistance("police").Refuse(
        apb.RefuseRequest(request_id=refused_id, ground="NOT_HELD", explanation="无记录")
    )
    t = assistance_requests
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(t).where(t.c.request_id == refused_id).values(refusal_ground="STATE_SECRET")
        )
        row = conn.execute(select(t).where(t.c.request_id == answered.request_id)).one()
        copied = answered.request_id[:-4] + "FFFF"
        conn.execute(
            insert(t).values(
                {**row._mapping, "request_id": copied, "idempotency_key": "copied", "seq": 1}
            )
        )
    found = {(p.ref, p.what) for p in audit(stack).problems}
    assert (
        refused_id,
        "assistance decision not as signed (its id or content differs from the statement)",
    ) in found
    assert (copied, "assistance decision not in the log (copied or written behind it)") in found
