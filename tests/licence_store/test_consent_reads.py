"""Consent (授权用证, issue 16 items 1, 2 and 4), through a real server on both backends: what a
grant lets a department read.

A department reads a consent-required licence type by holder number only under a valid grant;
without one the refusal is the same whether or not the person holds such a licence, and
unfiltered reads leave the type out. A grant authorises every kind of read, each use recorded
against it; a grant for one licence covers only it. The issuer, the holder's portal,
presentation at the counter, and items and types not marked need no grant.
"""

from __future__ import annotations

import grpc

from services.licence_store import demo
from tests.licence_store.consent_helpers import (
    MARRIAGE,
    PERSON,
    QUALIFICATION,
    STRANGER,
    WHY,
    certify,
    failure,
    grant,
    reads,
    refusals,
    stack,  # noqa: F401  (the fixture)
)
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

# --- the reads a grant authorises, as one department sees them ---------------------------------


def test_without_a_grant_the_refusal_is_the_same_whether_or_not_the_person_holds_one(stack):  # noqa: F811
    certify(stack)
    held = refusals(stack, "housing", PERSON)
    not_held = refusals(stack, "housing", STRANGER)
    assert held == not_held
    for code, message, reason, metadata in held.values():
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert reason == "CONSENT_REQUIRED"
        assert metadata == {"type_codes": QUALIFICATION}
        assert "consent" in message


def test_materials_without_a_grant_are_answered_consent_required_either_way(stack):  # noqa: F811
    certify(stack)

    def check(holder: str, grant_id: str = "") -> list[tuple[str, bool, str]]:
        answer = stack.verifier("housing").CheckMaterials(
            vpb.CheckMaterialsRequest(
                item_code="FZ-RS-0002", applicant_number=holder, consent_grant_id=grant_id, **WHY
            )
        )
        return [(m.material.name, m.covered, m.reason) for m in answer.materials]

    held, not_held = check(PERSON), check(STRANGER)
    assert held == not_held
    assert held[0][:2] == ("职业资格证书", False) and held[0][2].startswith("CONSENT_REQUIRED")
    granted = grant(stack, item_code="FZ-RS-0002", case_number="")
    covered = check(PERSON, granted.grant_id)
    assert covered[0][:3] == ("职业资格证书", True, "COVERED_BY_VALID_E_LICENCE")


def test_unfiltered_reads_leave_consent_required_types_out_without_a_grant(stack):  # noqa: F811
    certify(stack)
    store = stack.store("housing")
    listed = store.ListLicencesByHolder(pb.ListLicencesByHolderRequest(holder_number=PERSON, **WHY))
    assert [lic.type_code for lic in listed.licences] == []
    verified = stack.verifier("housing").VerifyByHolder(
        vpb.VerifyByHolderRequest(holder_number=PERSON, **WHY)
    )
    assert [v.verdict for v in verified.verifications] == [vpb.VERDICT_NOT_FOUND]


def test_issuer_and_portal_need_no_grant_and_presentation_needs_none(stack):  # noqa: F811
    licence = certify(stack)
    listed = stack.store("hrss").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(holder_number=PERSON, type_codes=[QUALIFICATION], **WHY)
    )
    assert [lic.licence_id for lic in listed.licences] == [licence.licence_id]
    portal = stack.store("portal").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(holder_number=PERSON, type_codes=[QUALIFICATION], **WHY)
    )
    assert [lic.licence_id for lic in portal.licences] == [licence.licence_id]
    # Presentation: the applicant shows the licence (its number) at the counter.
    shown = stack.verifier("housing").VerifyLicence(
        vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id),
            presented_holder_number=PERSON,
            **WHY,
        )
    )
    assert shown.verdict == vpb.VERDICT_VALID
    assert shown.holder_number_match == vpb.HOLDER_MATCH_MATCH


def test_a_grant_authorises_the_reads_and_every_use_is_recorded_against_it(stack):  # noqa: F811
    licence = certify(stack)
    granted = grant(stack)
    answers = {
        name: call() for name, call in reads(stack, "housing", PERSON, granted.grant_id).items()
    }
    listed = answers["ListLicencesByHolder"].licences
    assert [lic.licence_id for lic in listed] == [licence.licence_id]
    assert listed[0].fields["occupation"] == "电工"  # the consent shows the content
    assert listed[0].holder.number == "110105********002X"  # the number masked
    verified = answers["VerifyByHolder"].verifications
    assert [(v.licence_id, v.verdict) for v in verified] == [
        (licence.licence_id, vpb.VERDICT_VALID)
    ]
    assert answers["SubmitRequest"].answer["result"] == "FOUND"
    holder_side = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    [seen] = holder_side.grants
    assert [(u.department_code, u.outcome) for u in seen.uses] == [
        (demo.ALIASES["housing"], "USED")
    ] * 3
    assert {u.channel for u in seen.uses} == {"licence_store", "verifier", "assistance"}
    records = (
        stack.assistance("portal")
        .ListAccessRecords(apb.ListAccessRecordsRequest(holder_number=PERSON))
        .records
    )
    under = [r for r in records if f"under consent {granted.grant_id}" in r.what]
    assert {r.channel for r in under} >= {"licence_store", "verification", "assistance"}


def test_a_grant_for_one_licence_covers_only_it(stack):  # noqa: F811
    first = certify(stack, "RS-2025-000001")
    certify(stack, "RS-2025-000002")
    granted = grant(stack, type_codes=[], licence_id=first.licence_id)
    assert list(granted.type_codes) == [QUALIFICATION]
    verified = reads(stack, "housing", PERSON, granted.grant_id)["VerifyByHolder"]()
    assert [v.licence_id for v in verified.verifications] == [first.licence_id]
    other = certify(stack, "RS-2025-000003", holder=STRANGER)
    assert failure(lambda: grant(stack, type_codes=[], licence_id=other.licence_id))[:3] == (
        grpc.StatusCode.NOT_FOUND,
        f"no licence {other.licence_id} of this holder",
        "LICENCE_NOT_FOUND",
    )


def test_items_and_types_not_marked_need_no_grant(stack):  # noqa: F811
    certify(stack)
    attestation = stack.assistance("hall").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key="consent-attestation-1",
            item_code="XZXZ-GA-001",  # an attestation: reads no licence type
            holder_number=PERSON,
            legal_basis="《政务服务条例》",
            **WHY,
        )
    )
    assert attestation.status == apb.REQUEST_STATUS_PENDING
    marriage = stack.verifier("housing").VerifyByHolder(
        vpb.VerifyByHolderRequest(holder_number=PERSON, type_codes=[MARRIAGE], **WHY)
    )
    assert [v.verdict for v in marriage.verifications] == [vpb.VERDICT_NOT_FOUND]
