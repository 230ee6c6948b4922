"""Checking on the client's side that a record is in the signed log (clients.log_proof), against
a real server: an access record's ``log_ref`` is proved INCLUDED; a head signed by a key the
caller does not trust, a leaf hash or an audit path altered on the way, and an unknown entry
are each refused with their own reason."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from clients.client import YihaoClient
from clients.log_proof import check_inclusion
from services.licence_store import demo
from testsupport.stack import Stack
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

HOLDER = "91350100M000100Y43"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def _verified(stack: Stack) -> None:
    """The hall verifies a licence of HOLDER: an access record of the holder's."""
    licence = stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=uuid.uuid4().hex,
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=f"350100-2026-{uuid.uuid4().hex[:8]}",
            holder=common_pb2.Holder(number=HOLDER, name="福州示例科技有限公司"),
            fields={
                "legal_representative": "王芳",
                "company_type": "有限责任公司",
                "registered_capital": "500",
                "established_on": "2020-05-22",
                "address": "福州市鼓楼区五四路1号",
                "business_scope": "软件开发",
            },
        )
    )
    stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id),
            presented_holder_number=HOLDER,
            purpose="企业开办",
            case_number="KB-2026-0001",
        )
    )


class Altered:
    """The client, with the inclusion proof changed on its way back (a lying server)."""

    def __init__(self, client: YihaoClient, change: Any) -> None:
        self._client = client
        self._change = change

    def get_inclusion_proof(self, **kw: Any) -> vpb.InclusionProof:
        proof = self._client.get_inclusion_proof(**kw)
        self._change(proof)
        return proof

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_an_access_record_is_proved_in_the_signed_log(stack: Stack) -> None:
    _verified(stack)
    portal = YihaoClient(stack.channel("portal"), timeout=10)
    records = portal.list_access_records(holder_number=HOLDER).records
    refs = [r.log_ref for r in records if r.channel == "verification"]
    assert refs and all(refs)
    check = check_inclusion(portal, refs[0])
    assert (check.ok, check.reason) == (True, "INCLUDED")
    assert 0 <= check.leaf_index < check.tree_size and len(check.root_hex) == 64

    stranger = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = stranger.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    distrusted = check_inclusion(portal, refs[0], trusted_keys={check.head_key_id: pem})
    assert (distrusted.ok, distrusted.reason) == (False, "TREE_HEAD_SIGNATURE_INVALID")

    def other_leaf(proof: vpb.InclusionProof) -> None:
        proof.payload_sha256 = "0" * 64

    def other_path(proof: vpb.InclusionProof) -> None:
        if proof.path:
            proof.path[0] = bytes(32)
        else:
            proof.leaf_index += 1

    lied = check_inclusion(Altered(portal, other_leaf), refs[0])  # type: ignore[arg-type]
    assert (lied.ok, lied.reason) == (False, "LEAF_HASH_MISMATCH")
    lied = check_inclusion(Altered(portal, other_path), refs[0])  # type: ignore[arg-type]
    assert (lied.ok, lied.reason) == (False, "NOT_INCLUDED")

    unknown = check_inclusion(portal, "no-such-entry")
    assert (unknown.ok, unknown.reason) == (False, "LOG_ENTRY_NOT_FOUND")
