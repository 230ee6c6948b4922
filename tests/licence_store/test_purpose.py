"""A purpose and a case number on every read of a person's data (issue 20, item 2): every read
path refuses a missing or blank one with INVALID_ARGUMENT naming the field; organisations'
public registration data needs neither; the catalogue's read grants constrain purposes per
department and licence type; the holder's access record keeps purpose and case."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.errors import InvalidArgument
from services.common.purpose import why_in
from services.licence_store import demo
from services.licence_store.domain.grants import ReadGrant, check_purpose, grants_by_key
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from testsupport.why import WHY
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

KEYS = itertools.count()
HUSBAND = "11010519491231002X"
WIFE = "110105195506150025"
COMPANY = "91350100M000100Y43"
MARRIAGE = demo.MARRIAGE_CERTIFICATE.type_code
BUSINESS = demo.BUSINESS_LICENCE.type_code


def marry(stack: Stack) -> pb.Licence:
    return stack.store("civil").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="purpose-marriage-1",
            type_code=MARRIAGE,
            licence_number="J350100-2026-000900",
            holder=common.Holder(number=HUSBAND, name="张三"),
            fields={
                "spouse_name": "李四",
                "spouse_id_number": WIFE,
                "registered_on": "2026-05-20",
                "registration_office": "福州市鼓楼区民政局婚姻登记处",
                "certificate_serial": "J350102-2026-000900",
            },
        )
    )


def found_company(stack: Stack) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="purpose-company-1",
            type_code=BUSINESS,
            licence_number="350100-2026-0900",
            holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
            fields=BUSINESS_FIELDS,
        )
    )


def violations(exc: grpc.RpcError) -> dict[str, str]:
    """field -> reason of an INVALID_ARGUMENT's BadRequest details."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    out: dict[str, str] = {}
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.update({v.field: v.description for v in bad.field_violations})
    return out


def person_reads(stack: Stack, licence: pb.Licence) -> dict[str, Callable[[dict[str, str]], Any]]:
    """Every read path of a person's data, each taking purpose and case as keywords."""
    ref = pb.LicenceRef(licence_id=licence.licence_id)
    by_number = pb.LicenceRef(
        type_and_number=pb.TypeAndNumber(type_code=MARRIAGE, licence_number="J350100-2026-000900")
    )
    civil, hall = stack.store("civil"), stack.verifier("hall")
    return {
        "GetLicence": lambda w: civil.GetLicence(pb.GetLicenceRequest(licence=ref, **w)),
        "GetLicence by number": lambda w: civil.GetLicence(
            pb.GetLicenceRequest(licence=by_number, **w)
        ),
        "GetLicenceHistory": lambda w: civil.GetLicenceHistory(
            pb.GetLicenceRequest(licence=ref, **w)
        ),
        "ListLicencesByHolder": lambda w: civil.ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(holder_number=HUSBAND, **w)
        ),
        "VerifyByHolder": lambda w: hall.VerifyByHolder(
            vpb.VerifyByHolderRequest(holder_number=HUSBAND, **w)
        ),
        "VerifyLicence with a holder number": lambda w: hall.VerifyLicence(
            vpb.VerifyLicenceRequest(licence=ref, presented_holder_number=HUSBAND, **w)
        ),
        "CheckMaterials": lambda w: hall.CheckMaterials(
            vpb.CheckMaterialsRequest(item_code="FZ-ZJ-0001", applicant_number=HUSBAND, **w)
        ),
        "SubmitRequest": lambda w: stack.assistance("police").SubmitRequest(
            apb.SubmitRequestRequest(
                idempotency_key=f"purpose-key-{next(KEYS)}",
                item_code="XZXZ-MZ-001",
                holder_number=HUSBAND,
                legal_basis="《中华人民共和国户口登记条例》第十九条",
                purpose=w.get("purpose", ""),
                case_number=w.get("case_number", ""),
            )
        ),
    }


NEEDS_PURPOSE = {
    "GetLicence",
    "GetLicence by number",
    "GetLicenceHistory",
    "ListLicencesByHolder",
    "VerifyByHolder",
    "VerifyLicence with a holder number",
    "SubmitRequest",
}


def test_every_read_of_a_persons_data_names_a_missing_or_blank_purpose_and_case(stack):
    licence = marry(stack)
    for name, read in person_reads(stack, licence).items():
        for why in ({}, {"purpose": "  ", "case_number": " \t"}):
            with pytest.raises(grpc.RpcError) as caught:
                read(why)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, name
            named = violations(caught.value)
            assert "case_number" in named, (name, named)
            if name in NEEDS_PURPOSE and name != "SubmitRequest":
                assert "purpose" in named, (name, named)
        read({"purpose": "户籍业务办理", "case_number": "GA-2026-0601-001"})  # then it answers


def test_a_service_item_implies_the_purpose_and_the_access_record_keeps_purpose_and_case(stack):
    licence = marry(stack)
    reads = person_reads(stack, licence)
    reads["CheckMaterials"]({"case_number": "MZ-2026-0042"})
    reads["GetLicence"]({"purpose": "婚姻登记档案查询", "case_number": "MZ-2026-0043"})
    records = (
        stack.assistance("portal")
        .ListAccessRecords(apb.ListAccessRecordsRequest(holder_number=HUSBAND))
        .records
    )
    got = {(r.channel, r.case_number): r.purpose for r in records}
    assert got[("licence_store", "MZ-2026-0043")] == "婚姻登记档案查询"
    assert got[("verification", "MZ-2026-0042")].startswith("办理事项 FZ-ZJ-0001")


def test_a_verify_batch_item_without_purpose_is_answered_on_its_own(stack):
    licence = marry(stack)
    ref = pb.LicenceRef(licence_id=licence.licence_id)
    items = [
        vpb.VerifyLicenceRequest(licence=ref, presented_holder_number=HUSBAND, client_ref="bare"),
        vpb.VerifyLicenceRequest(licence=ref, presented_holder_number=HUSBAND, **WHY),
        vpb.VerifyLicenceRequest(licence=ref, client_ref="no holder"),  # nobody's data asked
    ]
    (chunk,) = stack.verifier("hall").VerifyBatch(iter([vpb.VerifyBatchRequest(items=items)]))
    bare, stated, plain = chunk.results
    assert bare.verdict == vpb.VERDICT_NOT_FOUND and bare.reason.startswith("PURPOSE_REQUIRED")
    assert stated.holder_number_match == vpb.HOLDER_MATCH_MATCH
    assert plain.verdict == vpb.VERDICT_VALID


def test_organisations_public_registration_data_needs_no_purpose(stack):
    company = found_company(stack)
    ref = pb.LicenceRef(licence_id=company.licence_id)
    assert stack.store("market").GetLicence(pb.GetLicenceRequest(licence=ref)).holder.number
    listed = stack.store("market").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(holder_number=COMPANY)
    )
    assert [lic.licence_id for lic in listed.licences] == [company.licence_id]
    answer = stack.verifier("hall").VerifyByHolder(vpb.VerifyByHolderRequest(holder_number=COMPANY))
    assert answer.verifications[0].verdict == vpb.VERDICT_VALID


def test_the_catalogue_constrains_purposes_per_department_and_licence_type(stack):
    licence = marry(stack)
    housing = stack.verifier("housing")
    wrong = {"purpose": "人才引进", "case_number": "ZJ-2026-1"}
    answer = housing.VerifyByHolder(vpb.VerifyByHolderRequest(holder_number=HUSBAND, **wrong))
    assert [v.verdict for v in answer.verifications] == [vpb.VERDICT_NOT_FOUND]  # not for that
    right = {"purpose": "住房保障资格审核", "case_number": "ZJ-2026-1"}
    answer = housing.VerifyByHolder(vpb.VerifyByHolderRequest(holder_number=HUSBAND, **right))
    assert [v.licence_id for v in answer.verifications] == [licence.licence_id]
    # The rule binds housing only: the hall may state its own purpose.
    hall = stack.verifier("hall").VerifyByHolder(
        vpb.VerifyByHolderRequest(holder_number=HUSBAND, **wrong)
    )
    assert [v.licence_id for v in hall.verifications] == [licence.licence_id]


def test_purpose_rules_unit():
    grants = grants_by_key(
        [
            ReadGrant("*", MARRIAGE, purposes=("婚姻登记",)),
            ReadGrant("D1", BUSINESS, purposes=("登记",)),
        ]
    )
    check_purpose(grants, "D2", BUSINESS, "anything")  # no rule for D2
    check_purpose(grants, "D1", BUSINESS, "登记")
    for dept, type_code in (("D1", BUSINESS), ("D2", MARRIAGE)):
        with pytest.raises(Exception, match="only for"):
            check_purpose(grants, dept, type_code, "其他")
    with pytest.raises(InvalidArgument) as caught:
        why_in("x" * 201, "", required=True)
    assert {v.field for v in caught.value.violations} == {"purpose", "case_number"}
    assert why_in(" 审核 ", " A-1 ", required=True).purpose == "审核"
