"""Three regions on localhost, each its own process, database (A on PostgreSQL), department PKI
and federation identity: verification both ways, a revocation seen at once, a stopped or
frozen region answered CANNOT_CHECK within the deadline, forged peers refused, and the
evidence (receipts citing receipts, access records, log entries) on both sides."""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.pki import init_region_identity, issue_region_cert, load_ca
from testsupport.regions import Region, holder_code, issue, running
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as apb_grpc
from yihao.v1 import federation_pb2 as fpb
from yihao.v1 import federation_pb2_grpc as fpb_grpc
from yihao.v1 import licence_store_pb2 as spb
from yihao.v1 import licence_store_pb2_grpc as spb_grpc
from yihao.v1 import verifier_pb2 as pb
from yihao.v1 import verifier_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres

PORTAL = "113501004323194882"  # the demo holder portal, registered in every region


_holder = holder_code
_issue = issue


def _verify(region: Region, dept: str, licence_id: str, **kw) -> pb.Verification:
    stub = pb_grpc.VerifierStub(region.channel(dept))
    timeout = kw.pop("timeout", 10)
    metadata = kw.pop("metadata", None)
    return stub.VerifyLicence(
        pb.VerifyLicenceRequest(licence=spb.LicenceRef(licence_id=licence_id), **kw),
        timeout=timeout,
        metadata=metadata,
    )


def _receipt(region: Region, dept: str, receipt_id: str) -> dict:
    stub = pb_grpc.VerifierStub(region.channel(dept))
    return json.loads(stub.GetReceipt(pb.GetReceiptRequest(receipt_id=receipt_id)).body_json)


def test_verified_both_ways_with_receipts_citing_receipts(regions):
    a, b, _ = regions
    in_a = _issue(a, "A-0001", _holder(a, 1))
    in_b = _issue(b, "B-0001", _holder(b, 1))

    seen_in_b = _verify(b, b.hall, in_a, metadata=(("yihao-staff", "clerk.07"),))
    assert seen_in_b.verdict == pb.VERDICT_VALID
    assert (seen_in_b.region, seen_in_b.licence_id) == ("35", in_a)
    assert seen_in_b.peer_receipt_id and seen_in_b.receipt_id != seen_in_b.peer_receipt_id
    seen_in_a = _verify(a, a.hall, in_b)
    assert (seen_in_a.verdict, seen_in_a.region) == (pb.VERDICT_VALID, "31")
    local = _verify(a, a.hall, in_a)
    assert (local.verdict, local.region, local.peer_receipt_id) == (pb.VERDICT_VALID, "", "")

    ours = _receipt(b, b.hall, seen_in_b.receipt_id)
    theirs = _receipt(a, a.hall, seen_in_b.peer_receipt_id)
    assert ours["requester"] == theirs["requester"] == b.hall
    assert ours["answers"][0]["peer"]["receipt_id"] == seen_in_b.peer_receipt_id
    assert ours["answers"][0]["verdict"] == theirs["answers"][0]["verdict"] == "valid"
    assert theirs["via"]["region"] == "31"
    assert ours["staff"] == theirs["staff"] == "clerk.07"  # B's department said who acted
    assert "via" not in ours


def test_both_receipts_are_in_their_regions_logs(regions):
    a, b, _ = regions
    seen = _verify(b, b.hall, _issue(a, "A-0002", _holder(a, 2)))
    for region, dept, receipt_id in (
        (b, b.hall, seen.receipt_id),
        (a, a.hall, seen.peer_receipt_id),
    ):
        stub = pb_grpc.VerifierStub(region.channel(dept))
        stub.GetTreeHead(pb.GetTreeHeadRequest(fresh=True), timeout=10)
        proof = stub.GetInclusionProof(pb.GetInclusionProofRequest(ref=receipt_id), timeout=10)
        assert proof.kind == "receipt" and proof.head.tree_size > proof.leaf_index


def test_a_revocation_in_a_is_answered_revoked_in_b_at_once(regions):
    a, b, _ = regions
    licence_id = _issue(a, "A-0003", _holder(a, 3))
    assert _verify(b, b.hall, licence_id).verdict == pb.VERDICT_VALID
    spb_grpc.LicenceStoreStub(a.channel(a.market)).RevokeLicence(
        spb.StatusChangeRequest(
            idempotency_key=secrets.token_hex(8),
            licence=spb.LicenceRef(licence_id=licence_id),
            reason_code="FRAUD",
        ),
        timeout=10,
    )
    seen = _verify(b, b.hall, licence_id)
    assert (seen.verdict, seen.region) == (pb.VERDICT_REVOKED, "35")


def test_access_records_on_both_sides(regions):
    a, b, _ = regions
    holder = _holder(a, 4)
    licence_id = _issue(a, "A-0004", holder)
    seen = _verify(
        b,
        b.hall,
        licence_id,
        presented_holder_number=holder,
        purpose="开办企业",
        case_number="SH-1",
    )
    assert seen.holder_number_match == pb.HOLDER_MATCH_MATCH

    def records(region: Region) -> list[apb.AccessRecord]:
        stub = apb_grpc.AssistanceStub(region.channel(PORTAL))
        reply = stub.ListAccessRecords(apb.ListAccessRecordsRequest(holder_number=holder))
        return list(reply.records)

    in_a = [r for r in records(a) if r.channel == "federation:31"]
    assert [(r.department_code, r.purpose, r.case_number) for r in in_a] == [
        (b.hall, "开办企业", "SH-1")
    ]
    in_b = [r for r in records(b) if r.channel == "forwarded:35"]
    assert [(r.department_code, r.case_number) for r in in_b] == [(b.hall, "SH-1")]


def test_a_document_and_a_qr_code_of_another_region_are_checked_by_it(regions):
    a, b, _ = regions
    ref = spb.LicenceRef(licence_id=_issue(a, "A-0007", _holder(a, 7)))
    issuer = pb_grpc.VerifierStub(a.channel(a.market))
    document = issuer.ExportDocument(pb.ExportDocumentRequest(licence=ref), timeout=10)
    qr = issuer.IssueQrPayload(pb.IssueQrPayloadRequest(licence=ref), timeout=10)
    counter = pb_grpc.VerifierStub(b.channel(b.hall))
    for request in (
        pb.VerifyDocumentRequest(signed_document=document),
        pb.VerifyDocumentRequest(qr_payload=qr.payload),
    ):
        seen = counter.VerifyDocument(request, timeout=10)
        assert (seen.verdict, seen.region, seen.document_authentic) == (
            pb.VERDICT_VALID,
            "35",
            True,
        )
        assert seen.peer_receipt_id and seen.licence_id == ref.licence_id
    forged = pb.SignedDocument()
    forged.CopyFrom(document)
    forged.content_json = document.content_json.replace("某市某路1号", "别处")
    seen = counter.VerifyDocument(pb.VerifyDocumentRequest(signed_document=forged), timeout=10)
    assert (seen.verdict, seen.region) == (pb.VERDICT_CANNOT_CHECK, "35")
    assert not seen.document_authentic


def test_a_batch_mixes_local_and_forwarded_items_under_one_receipt(regions):
    a, b, _ = regions
    in_a, in_b = _issue(a, "A-0005", _holder(a, 5)), _issue(b, "B-0005", _holder(b, 5))
    items = [
        pb.VerifyLicenceRequest(licence=spb.LicenceRef(licence_id=i), client_ref=str(n))
        for n, i in enumerate([in_b, in_a, "not-an-id"])
    ]
    stub = pb_grpc.VerifierStub(b.channel(b.hall))
    (reply,) = stub.VerifyBatch(iter([pb.VerifyBatchRequest(items=items)]), timeout=10)
    got = [(v.client_ref, v.verdict, v.region) for v in reply.results]
    assert got == [
        ("0", pb.VERDICT_VALID, ""),
        ("1", pb.VERDICT_VALID, "35"),
        ("2", pb.VERDICT_NOT_FOUND, ""),
    ]
    assert {v.receipt_id for v in reply.results} == {reply.receipt_id}
    body = _receipt(b, b.hall, reply.receipt_id)
    assert [x.get("peer", {}).get("region") for x in body["answers"]] == [None, "35", None]


def _peer_health(region: Region, peer: str) -> int:
    stub = health_pb2_grpc.HealthStub(region.channel(region.hall))
    reply = stub.Check(health_pb2.HealthCheckRequest(service=f"yihao.federation.peer.{peer}"))
    return reply.status


def test_a_regions_policy_for_a_peer_is_applied(regions, tmp_path):
    a, _, c = regions
    licence_id = _issue(a, "A-0006", _holder(a, 6))
    with running(c, log_file=tmp_path / "c.log"):
        seen = _verify(c, c.hall, licence_id)
        assert (seen.verdict, seen.region) == (pb.VERDICT_VALID, "35")
        item = pb.VerifyLicenceRequest(licence=spb.LicenceRef(licence_id=licence_id))
        stub = pb_grpc.VerifierStub(c.channel(c.hall))
        (reply,) = stub.VerifyBatch(iter([pb.VerifyBatchRequest(items=[item])]), timeout=10)
        (refused,) = reply.results
        assert refused.verdict == pb.VERDICT_CANNOT_CHECK
        assert refused.reason == "PEER_REFUSED: PERMISSION_DENIED"


def test_a_frozen_or_stopped_region_is_cannot_check_within_the_deadline(regions, tmp_path):
    _, b, c = regions
    with running(c, log_file=tmp_path / "c.log") as server:
        licence_id = _issue(c, "C-0001", _holder(c, 1))
        assert _verify(b, b.hall, licence_id).verdict == pb.VERDICT_VALID
        os.kill(server.proc.pid, signal.SIGSTOP)  # slow: connected, never answers
        try:
            began = time.monotonic()
            seen = _verify(b, b.hall, licence_id, timeout=1.5)
            assert time.monotonic() - began < 1.5
            assert (seen.verdict, seen.reason) == (pb.VERDICT_CANNOT_CHECK, "REGION_UNAVAILABLE")
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
    # stopped: refused at once; the second failure opens the circuit
    seen = _verify(b, b.hall, licence_id, timeout=3)
    assert (seen.verdict, seen.reason, seen.region) == (
        pb.VERDICT_CANNOT_CHECK,
        "REGION_UNAVAILABLE",
        "44",
    )
    assert seen.receipt_id  # the non-answer has its receipt too
    assert _peer_health(b, "44") == health_pb2.HealthCheckResponse.NOT_SERVING
    assert _peer_health(b, "35") == health_pb2.HealthCheckResponse.SERVING
    began = time.monotonic()
    assert _verify(b, b.hall, licence_id).reason == "REGION_UNAVAILABLE"
    assert time.monotonic() - began < 0.5  # the open circuit answers without calling


def _federation_channel(region: Region, cert: bytes, key: bytes, ca: bytes) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(ca, key, cert)
    return grpc.secure_channel(f"127.0.0.1:{region.federation_port}", creds)


def _forwarded_call(channel: grpc.Channel) -> grpc.RpcError:
    stub = fpb_grpc.FederationStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.VerifyLicence(fpb.FederatedVerifyRequest(), timeout=5)
    return caught.value


def _files(directory: Path) -> tuple[bytes, bytes]:
    return (directory / "region.crt").read_bytes(), (directory / "region.key").read_bytes()


def test_forged_and_wrong_region_peers_are_refused(regions, tmp_path):
    a, b, c = regions
    a_ca = (a.var_dir / "federation" / "ca.crt").read_bytes()
    # a department's certificate: not signed by any peer's federation CA
    pki = b.var_dir / "pki" / "clients"
    dept = _federation_channel(
        a, (pki / f"{b.hall}.crt").read_bytes(), (pki / f"{b.hall}.key").read_bytes(), a_ca
    )
    assert _forwarded_call(dept).code() == grpc.StatusCode.UNAVAILABLE
    # region 31's identity made by an unknown CA
    init_region_identity(tmp_path / "forged", "31")
    forged = _federation_channel(a, *_files(tmp_path / "forged"), a_ca)
    assert _forwarded_call(forged).code() == grpc.StatusCode.UNAVAILABLE
    # region 44's CA (a peer) signing a certificate that says region 31
    ca = load_ca(c.var_dir / "federation" / "ca.crt", c.var_dir / "federation" / "ca.key")
    cert, key = issue_region_cert(ca, "31", ["localhost"])
    wrong = _federation_channel(a, cert, key, a_ca)
    error = _forwarded_call(wrong)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "region 31" in (error.details() or "")
    # the real region 31, with an assertion it did not sign
    real = _federation_channel(a, *_files(b.var_dir / "federation"), a_ca)
    error = _forwarded_call(real)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "assertion" in (error.details() or "")
