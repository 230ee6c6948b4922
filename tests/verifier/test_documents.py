"""Presented documents and QR payloads through the verifier (services/verifier/documents.py)."""

from __future__ import annotations

import json

import grpc

from services.licence_store import demo
from testsupport.fuzz.harness import assert_answered, call
from testsupport.fuzz.templates import valid_fields
from testsupport.fuzz.values import qr_with_body
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb


def issue_business(stack: Stack) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="documents-issue-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="DOC-1",
            holder=common.Holder(number="91350100M000100Y43", name="福州示例科技有限公司"),
            fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
        )
    )


def test_regression_verify_document_with_naive_version_at(stack: Stack):
    """Found by the fuzzer (fixed since): a presented document whose version_at has no UTC offset,
    with a real key id and its issuer_code, is compared with the key's aware validity period in
    check_document (TypeError -> INTERNAL) instead of answering CANNOT_CHECK.
    """
    licence = issue_business(stack)
    document = stack.verifier("portal").ExportDocument(
        vpb.ExportDocumentRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
    )
    content = json.loads(document.content_json)
    content["version_at"] = content["version_at"][:19]  # e.g. 2026-11-21T23:09:51
    document.content_json = json.dumps(content, ensure_ascii=False)
    request = vpb.VerifyDocumentRequest(signed_document=document)
    outcome = call(stack.channel("hall"), "/yihao.v1.Verifier/VerifyDocument", [request])
    assert_answered(outcome, grpc.StatusCode.OK)
    assert outcome.responses[0].verdict == vpb.VERDICT_CANNOT_CHECK


def test_regression_qr_payload_nested_json(stack: Stack):
    """Found by the fuzzer (fixed since): decode_qr parses the QR body before checking its
    signature and catches only ValueError, so a body of deeply nested JSON (fits the
    2048-character limit) raises RecursionError -> INTERNAL instead of INVALID_ARGUMENT/FORMAT.
    """
    request = vpb.VerifyDocumentRequest(qr_payload=qr_with_body("[" * 1500))
    assert len(request.qr_payload) <= 2048
    outcome = call(stack.channel("hall"), "/yihao.v1.Verifier/VerifyDocument", [request])
    assert_answered(outcome, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OK)
