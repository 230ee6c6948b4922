"""Least privilege on every read (issue 20, item 1): a department that is neither the issuer,
nor the holder portal, nor granted gets verification of a person's licence, never its content;
a granted one sees only the granted fields, sensitive ones masked."""

from __future__ import annotations

import grpc
import pytest

from services.licence_store import demo
from testsupport.stack import Stack
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

PERSON = "11010519491231002X"
SPOUSE = "110105195506150025"
HOUSING_WHY = {"purpose": "住房保障资格审核", "case_number": "ZJ-2026-0007"}


def residence(stack: Stack) -> pb.Licence:
    return stack.store("police").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="rules-residence-1",
            type_code=demo.RESIDENCE_PERMIT.type_code,
            licence_number="R-2026-0001",
            holder=common.Holder(number=PERSON, name="张三"),
            fields={
                "sex": "男",
                "domicile": "北京市西城区",
                "residence_address": "福州市台江区八一七中路2号",
                "issuing_office": "福州市公安局台江分局",
            },
        )
    )


def marriage(stack: Stack) -> pb.Licence:
    return stack.store("civil").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="rules-marriage-1",
            type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            licence_number="J-2026-0001",
            holder=common.Holder(number=PERSON, name="张三"),
            fields={
                "spouse_name": "李四",
                "spouse_id_number": SPOUSE,
                "registered_on": "2026-05-20",
                "registration_office": "福州市鼓楼区民政局婚姻登记处",
                "certificate_serial": "J350102-2026-000123",
            },
        )
    )


def test_another_department_is_refused_the_content_but_verification_still_works(stack):
    permit = residence(stack)
    ref = pb.LicenceRef(licence_id=permit.licence_id)
    for read in (stack.store("education").GetLicence, stack.store("education").GetLicenceHistory):
        with pytest.raises(grpc.RpcError) as caught:
            read(pb.GetLicenceRequest(licence=ref, **WHY))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        assert caught.value.details() == f"no licence {permit.licence_id}"
    listed = stack.store("education").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(holder_number=PERSON, **WHY)
    )
    assert list(listed.licences) == []
    answer = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(licence=ref, presented_holder_number=PERSON, **WHY)
    )
    assert answer.verdict == vpb.VERDICT_VALID
    assert answer.holder_number_match == vpb.HOLDER_MATCH_MATCH
    whole = stack.store("police").GetLicence(pb.GetLicenceRequest(licence=ref, **WHY))
    assert whole.holder.number == PERSON and whole.fields["domicile"] == "北京市西城区"


def test_a_granted_department_sees_only_the_granted_fields_sensitive_ones_masked(stack):
    licence = marriage(stack)
    ref = pb.LicenceRef(licence_id=licence.licence_id)
    got = stack.store("housing").GetLicence(pb.GetLicenceRequest(licence=ref, **HOUSING_WHY))
    assert dict(got.fields) == {
        "spouse_name": "李*",
        "registered_on": "2026-05-20",
        "registration_office": "福州市鼓楼区民政局婚姻登记处",
    }
    assert got.holder.number == "" and got.holder.name == "张三"
    portal = stack.store("portal").GetLicence(pb.GetLicenceRequest(licence=ref, **WHY))
    assert portal.fields["spouse_id_number"] == SPOUSE and portal.holder.number == PERSON


def test_watch_events_shows_only_types_issued_or_granted(stack):
    residence(stack)
    marriage(stack)
    seen = {
        e.type_code for e in stack.store("housing").WatchEvents(pb.WatchEventsRequest(follow=False))
    }
    assert seen == {demo.MARRIAGE_CERTIFICATE.type_code}
    asked = stack.store("education").WatchEvents(
        pb.WatchEventsRequest(type_codes=[demo.RESIDENCE_PERMIT.type_code], follow=False)
    )
    assert list(asked) == []
