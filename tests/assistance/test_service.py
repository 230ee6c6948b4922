"""Assistance through a real server: edge cases of services/assistance/service.py."""

from __future__ import annotations

import grpc
import pytest

from services.common.paging import encode_token
from services.licence_store import demo
from testsupport.fuzz.harness import assert_answered, call
from testsupport.fuzz.templates import valid_fields
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

COMPANY = "91350100M000100Y43"
PERSON = "11010519491231002X"


def submit_request(key: str) -> apb.SubmitRequestRequest:
    return apb.SubmitRequestRequest(
        idempotency_key=key,
        item_code="XZXZ-SC-001",
        holder_number=COMPANY,
        purpose="住房保障资格审核",
        legal_basis="《政务服务条例》第十条",
        case_number="CASE-2026-7",
    )


@pytest.mark.parametrize("position", ["²", "9" * 30])
def test_regression_access_records_page_token_digits(stack: Stack, position: str):
    """Found by the fuzzer (fixed since): AssistanceService.access_records turns a page token's
    text into an int when str.isdigit() holds: '²' raises ValueError, 30 digits overflow SQLite
    INTEGER (-> INTERNAL instead of INVALID_ARGUMENT/PAGE_TOKEN).
    """
    request = apb.ListAccessRecordsRequest(holder_number=PERSON, page_token=encode_token(position))
    outcome = call(stack.channel("portal"), "/yihao.v1.Assistance/ListAccessRecords", [request])
    assert_answered(outcome, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OK)


@pytest.mark.parametrize("change", [("purpose", "人才引进审核"), ("legal_basis", "《另一依据》")])
def test_regression_submit_key_reused_with_another_purpose(stack: Stack, change: tuple[str, str]):
    """Found by the fuzzer (fixed since): SubmitRequest with a used idempotency key and another
    purpose or legal basis answers OK with the earlier request (only item, holder, case number
    and fields are compared), silently dropping what the caller stated; IssueLicence answers
    ABORTED.
    """
    stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="assist-issue-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="ASSIST-1",
            holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
            fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
        )
    )
    first = submit_request("assist-submit-1")
    stack.assistance("hall").SubmitRequest(first)
    other = apb.SubmitRequestRequest()
    other.CopyFrom(first)
    setattr(other, *change)
    outcome = call(stack.channel("hall"), "/yihao.v1.Assistance/SubmitRequest", [other])
    assert_answered(outcome, grpc.StatusCode.ABORTED)
