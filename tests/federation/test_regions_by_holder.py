"""Lookups by holder across regions (real regions: conftest): VerifyByHolder fans out only to
the regions the policy names, carrying the purpose and case; a region that cannot answer is
one CANNOT_CHECK and the others are still answered, within the deadline. And references by
licence type and number go to the region that owns the type. A materials check (免提交) asks the
applicant's region as such a lookup does, and says which region could not be asked."""

from __future__ import annotations

import json
import time

import pytest

from services.app import build_app
from services.verifier.materials import Material, ServiceItem
from testsupport.regions import Region, holder_code, issue
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as apb_grpc
from yihao.v1 import licence_store_pb2 as spb
from yihao.v1 import verifier_pb2 as pb
from yihao.v1 import verifier_pb2_grpc as pb_grpc

pytestmark = pytest.mark.postgres

PORTAL = "113501004323194882"  # the demo holder portal, registered in every region


def _by_holder(region: Region, holder: str, **kw) -> pb.VerifyByHolderResponse:
    stub = pb_grpc.VerifierStub(region.channel(region.hall))
    timeout = kw.pop("timeout", 10)
    return stub.VerifyByHolder(
        pb.VerifyByHolderRequest(holder_number=holder, **kw), timeout=timeout
    )


def _receipt(region: Region, receipt_id: str) -> dict:
    stub = pb_grpc.VerifierStub(region.channel(region.hall))
    return json.loads(stub.GetReceipt(pb.GetReceiptRequest(receipt_id=receipt_id)).body_json)


def test_a_holder_of_another_region_is_looked_up_there_too(regions):
    a, b, _ = regions
    holder = holder_code(a, 201)  # an organisation registered in 35
    in_a = issue(a, "A-H001", holder)
    in_b = issue(b, "B-H001", holder)
    reply = _by_holder(b, holder, purpose="开办企业", case_number="SH-H1")
    got = sorted((v.licence_id, v.verdict, v.region) for v in reply.verifications)
    assert got == sorted([(in_a, pb.VERDICT_VALID, "35"), (in_b, pb.VERDICT_VALID, "")])
    (there,) = [v for v in reply.verifications if v.region]
    assert there.peer_receipt_id and {v.receipt_id for v in reply.verifications} == {
        there.receipt_id
    }
    ours = _receipt(b, there.receipt_id)
    theirs = _receipt(a, there.peer_receipt_id)
    assert [x["peer"]["receipt_id"] for x in ours["answers"] if "peer" in x] == [
        there.peer_receipt_id
    ]
    assert theirs["requester"] == b.hall and theirs["via"]["region"] == "31"
    # 35 recorded the access under 31's department, with its purpose and case
    stub = apb_grpc.AssistanceStub(a.channel(PORTAL))
    records = stub.ListAccessRecords(apb.ListAccessRecordsRequest(holder_number=holder)).records
    assert [
        (r.department_code, r.purpose, r.case_number)
        for r in records
        if r.channel == "federation:31"
    ] == [(b.hall, "开办企业", "SH-H1")]


def test_a_holder_of_this_region_is_not_sent_anywhere(regions):
    a, b, _ = regions
    holder = holder_code(b, 202)  # registered in 31: the policy names no peer
    issue(a, "A-H002", holder)  # a licence in 35 that a lookup in 31 does not go looking for
    in_b = issue(b, "B-H002", holder)
    reply = _by_holder(b, holder)
    assert [(v.licence_id, v.region) for v in reply.verifications] == [(in_b, "")]


def test_a_region_that_cannot_answer_is_cannot_check_and_the_rest_is_answered(regions):
    _, b, c = regions  # C (44) is not running here
    holder = holder_code(c, 203)
    in_b = issue(b, "B-H003", holder)
    began = time.monotonic()
    reply = _by_holder(b, holder, timeout=3)
    assert time.monotonic() - began < 3
    got = sorted((v.region, v.verdict, v.reason) for v in reply.verifications)
    assert got == [
        ("", pb.VERDICT_VALID, "ALL_CHECKS_PASSED"),
        ("44", pb.VERDICT_CANNOT_CHECK, "REGION_UNAVAILABLE"),
    ]
    assert in_b in {v.licence_id for v in reply.verifications}


def test_a_reference_by_type_and_number_goes_to_the_region_owning_the_type(regions):
    a, b, _ = regions
    issue(a, "A-T001", holder_code(a, 204))
    stub = pb_grpc.VerifierStub(b.channel(b.hall))
    ref = spb.LicenceRef(
        type_and_number=spb.TypeAndNumber(type_code=a.licence_type, licence_number="A-T001")
    )
    seen = stub.VerifyLicence(pb.VerifyLicenceRequest(licence=ref), timeout=10)
    assert (seen.verdict, seen.region) == (pb.VERDICT_VALID, "35") and seen.peer_receipt_id
    missing = spb.LicenceRef(
        type_and_number=spb.TypeAndNumber(type_code=a.licence_type, licence_number="A-T999")
    )
    seen = stub.VerifyLicence(pb.VerifyLicenceRequest(licence=missing), timeout=10)
    assert (seen.verdict, seen.region) == (pb.VERDICT_NOT_FOUND, "35")


def _item_in(region: Region, *materials: Material) -> str:
    """A service item in ``region``'s catalogue (as its demo loader saves them); its code."""
    app = build_app(region.settings())
    try:
        app.verifier.materials.save_items([ServiceItem("FED-0001", "跨省开办", materials)])
    finally:
        app.close()
    return "FED-0001"


def _materials(region: Region, item: str, applicant: str, **kw) -> pb.MaterialsCheck:
    stub = pb_grpc.VerifierStub(region.channel(region.hall))
    request = pb.CheckMaterialsRequest(item_code=item, applicant_number=applicant)
    return stub.CheckMaterials(request, timeout=kw.pop("timeout", 10))


def test_materials_held_in_the_applicants_region_are_covered_from_there(regions):
    a, b, c = regions  # C (44) is not running here
    item = _item_in(
        b,
        Material("营业执照（福建）", a.licence_type),
        Material("营业执照（广东）", c.licence_type),
        Material("经营场所使用证明"),
    )
    holder = holder_code(a, 205)  # registered in 35: the policy sends its lookups there
    in_a = issue(a, "A-M001", holder)
    check = _materials(b, item, holder)
    by_name = {m.material.name: m for m in check.materials}
    there = by_name["营业执照（福建）"]
    assert there.covered and there.reason == "COVERED_BY_VALID_E_LICENCE"
    seen = there.verification
    assert (seen.licence_id, seen.region, seen.verdict) == (in_a, "35", pb.VERDICT_VALID)
    assert seen.peer_receipt_id and seen.receipt_id
    ours = _receipt(b, seen.receipt_id)
    assert [x["peer"]["receipt_id"] for x in ours["answers"] if "peer" in x] == [
        seen.peer_receipt_id
    ]
    assert not by_name["营业执照（广东）"].covered  # 44 was not asked: none held as far as known
    assert by_name["营业执照（广东）"].reason.startswith("NO_E_LICENCE")
    assert not by_name["经营场所使用证明"].covered

    # An applicant registered in 44, which is not running: not "not held", but not checked.
    stranger = holder_code(c, 206)
    began = time.monotonic()
    unchecked = _materials(b, item, stranger, timeout=3)
    assert time.monotonic() - began < 3
    outcome = {m.material.name: (m.covered, m.reason) for m in unchecked.materials}
    assert outcome["营业执照（广东）"][0] is False
    assert outcome["营业执照（广东）"][1].startswith("NOT_CHECKED: region 44 (REGION_UNAVAILABLE)")
