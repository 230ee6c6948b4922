"""What the gRPC tests of the licence store share: demo licence types and holders, licences
issued through the served stack, request builders, and the google.rpc details of an error.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.licence_store import demo
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

BUSINESS = demo.BUSINESS_LICENCE.type_code
RESIDENCE = demo.RESIDENCE_PERMIT.type_code
COMPANY = "91350100M000100Y43"
PERSON = "11010519491231002X"

BUSINESS_FIELDS = {
    "legal_representative": "王芳",
    "company_type": "有限责任公司（自然人投资或控股）",
    "registered_capital": "500",
    "established_on": "2020-05-22",
    "address": "福州市鼓楼区五四路1号",
    "business_scope": "软件开发；信息技术咨询服务",
}
RESIDENCE_FIELDS = {
    "sex": "男",
    "domicile": "北京市西城区",
    "residence_address": "福州市台江区八一七中路2号",
    "issuing_office": "福州市公安局台江分局",
}


def issue_business(
    stack: Stack, number: str = "350100-2026-0001", key: str = "", holder: str = COMPANY
) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=key or f"issue-{number}",
            type_code=BUSINESS,
            licence_number=number,
            holder=common.Holder(number=holder, name="福州示例科技有限公司"),
            fields=BUSINESS_FIELDS,
        )
    )


def issue_residence(stack: Stack, number: str, holder: str = PERSON) -> pb.Licence:
    return stack.store("police").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"issue-{number}",
            type_code=RESIDENCE,
            licence_number=number,
            holder=common.Holder(number=holder, name="张三"),
            fields=RESIDENCE_FIELDS,
        )
    )


def by_id(licence_id: str) -> pb.LicenceRef:
    return pb.LicenceRef(licence_id=licence_id)


def status_request(licence_id: str, code: str, text: str = "") -> pb.StatusChangeRequest:
    return pb.StatusChangeRequest(licence=by_id(licence_id), reason_code=code, reason_text=text)


def details(err: grpc.RpcError) -> tuple[list[tuple[str, str, str]], str]:
    """(field violations as (field, reason, description), ErrorInfo reason) of an error."""
    status = rpc_status.from_call(err)
    assert status is not None, "every error carries a google.rpc.Status"
    violations: list[tuple[str, str, str]] = []
    reason = ""
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.reason, v.description) for v in bad.field_violations]
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return violations, reason
