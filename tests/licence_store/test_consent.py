"""Consent (授权用证, issue 16 items 1, 2 and 4), through a real server on both backends.

The holder portal grants, lists, checks and revokes; a department reads a consent-required
licence type by holder number only under a valid grant — every bad grant (none, unknown,
another holder's, expired, revoked, another department's, another matter's, another type's,
edited in the database) is one and the same refusal to it, whether or not the person holds
such a licence, while the holder's side is told exactly which; a grant longer than the
maximum is INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import delete, update

from services.audit import verify
from services.common.signing import PublicKey
from services.licence_store import demo
from services.licence_store.persistence.tables import consent_grants
from testsupport.stack import Stack, settings_for, start_stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

PERSON = "11010519491231002X"
STRANGER = "360426199101010071"  # holds nothing
THIRD = "110105195506150029"  # someone else again: whose grant is not for either
QUALIFICATION = demo.QUALIFICATION_CERTIFICATE.type_code
MARRIAGE = demo.MARRIAGE_CERTIFICATE.type_code
CASE = "ZJ-2026-0042"
WHY = {"purpose": "住房保障资格审核", "case_number": CASE}
KEYS = itertools.count()
#: Lookups by holder number are limited to 5/s (burst 20): these tests make more, on purpose.
LIMITS = '{"verify_by_holder": [1000, 1000]}'


@pytest.fixture
def stack(database_url, pki, tmp_path, clock):
    s = start_stack(
        settings_for(database_url, tmp_path, pki, rate_limits_json=LIMITS), pki, clock=clock
    )
    yield s
    s.stop()


def certify(stack: Stack, number: str = "RS-2025-000001", holder: str = PERSON) -> pb.Licence:
    return stack.store("hrss").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"consent-{number}",
            type_code=QUALIFICATION,
            licence_number=number,
            holder=common.Holder(number=holder, name="张三"),
            fields={
                "occupation": "电工",
                "level": "三级",
                "awarded_on": "2025-01-10",
                "awarding_body": "福州市职业技能鉴定中心",
            },
        )
    )


def expiry(stack: Stack, days: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(stack.app.clock.now() + timedelta(days=days))
    return ts


def grant(stack: Stack, **terms) -> pb.ConsentGrant:
    request = {
        "holder_number": PERSON,
        "department_code": demo.ALIASES["housing"],
        "type_codes": [QUALIFICATION],
        "case_number": CASE,
        "expires_at": expiry(stack, 30),
        **terms,
    }
    return stack.store("portal").GrantConsent(pb.GrantConsentRequest(**request))


def failure(call) -> tuple[grpc.StatusCode, str, str, dict[str, str]]:
    """(code, message, reason, metadata) of a refused call."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return error.code(), error.details(), info.reason, dict(info.metadata)
    return error.code(), error.details(), "", {}


def violations(call) -> list[tuple[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.reason) for v in bad.field_violations]
    return found


# --- the reads a grant authorises, as one department sees them ---------------------------------


def reads(stack: Stack, alias: str, holder: str, grant_id: str = "", case: str = CASE):
    """Every read by holder number of the consent-required type, named explicitly."""
    why = {**WHY, "case_number": case}
    store, verifier, assistance = stack.store(alias), stack.verifier(alias), stack.assistance(alias)
    return {
        "ListLicencesByHolder": lambda: store.ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(
                holder_number=holder, type_codes=[QUALIFICATION], consent_grant_id=grant_id, **why
            )
        ),
        "VerifyByHolder": lambda: verifier.VerifyByHolder(
            vpb.VerifyByHolderRequest(
                holder_number=holder, type_codes=[QUALIFICATION], consent_grant_id=grant_id, **why
            )
        ),
        "SubmitRequest": lambda: assistance.SubmitRequest(
            apb.SubmitRequestRequest(
                idempotency_key=f"consent-request-{next(KEYS)}",
                item_code="XZXZ-RS-001",
                holder_number=holder,
                consent_grant_id=grant_id,
                **why,
            )
        ),
    }


def refusals(stack: Stack, alias: str, holder: str, grant_id: str = "", case: str = CASE):
    return {
        name: failure(call) for name, call in reads(stack, alias, holder, grant_id, case).items()
    }


def test_without_a_grant_the_refusal_is_the_same_whether_or_not_the_person_holds_one(stack):
    certify(stack)
    held = refusals(stack, "housing", PERSON)
    not_held = refusals(stack, "housing", STRANGER)
    assert held == not_held
    for code, message, reason, metadata in held.values():
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert reason == "CONSENT_REQUIRED"
        assert metadata == {"type_codes": QUALIFICATION}
        assert "consent" in message


def test_materials_without_a_grant_are_answered_consent_required_either_way(stack):
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


def test_unfiltered_reads_leave_consent_required_types_out_without_a_grant(stack):
    certify(stack)
    store = stack.store("housing")
    listed = store.ListLicencesByHolder(pb.ListLicencesByHolderRequest(holder_number=PERSON, **WHY))
    assert [lic.type_code for lic in listed.licences] == []
    verified = stack.verifier("housing").VerifyByHolder(
        vpb.VerifyByHolderRequest(holder_number=PERSON, **WHY)
    )
    assert [v.verdict for v in verified.verifications] == [vpb.VERDICT_NOT_FOUND]


def test_issuer_and_portal_need_no_grant_and_presentation_needs_none(stack):
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


def test_a_grant_authorises_the_reads_and_every_use_is_recorded_against_it(stack):
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


def test_a_grant_is_signed_by_the_portal_over_its_own_id_and_logged(stack):
    granted = grant(stack)
    body = json.loads(granted.body_json)
    assert body["grant_id"] == granted.grant_id
    assert body["department_code"] == demo.ALIASES["housing"]
    portal = stack.store("data").GetDepartment(
        pb.GetDepartmentRequest(credit_code=demo.ALIASES["portal"])
    )
    [key] = [k for k in portal.signing_keys if k.key_id == granted.signature.key_id]
    public = PublicKey.from_pem(key.key_id, key.public_key_pem)
    assert public.verify(granted.body_json.encode(), granted.signature.value)
    assert not public.verify(
        granted.body_json.replace(granted.grant_id, "CG0").encode(), granted.signature.value
    )
    stack.verifier("portal").GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    proof = stack.verifier("portal").GetInclusionProof(
        vpb.GetInclusionProofRequest(ref=granted.grant_id)
    )
    assert proof.kind == "consent_grant"
    assert granted.state == pb.CONSENT_STATE_ACTIVE
    assert granted.holder.number == "110105********002X"


def test_listing_holder_side_and_department_side(stack):
    granted = grant(stack)
    grant(stack, holder_number=STRANGER)
    mine = stack.store("housing").ListConsents(pb.ListConsentsRequest())
    assert len(mine.grants) == 2 and all(not g.uses for g in mine.grants)
    assert stack.store("hall").ListConsents(pb.ListConsentsRequest()).grants == []
    holder = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    assert [g.grant_id for g in holder.grants] == [granted.grant_id]
    assert violations(
        lambda: stack.store("housing").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    ) == [("holder_number", "NOT_ALLOWED")]
    assert violations(lambda: stack.store("portal").ListConsents(pb.ListConsentsRequest())) == [
        ("holder_number", "REQUIRED")
    ]


# --- bad grants: one refusal to the department, the exact reason to the holder -----------------


def bad_grants(stack: Stack, clock) -> dict[str, tuple[str, str]]:
    """{holder-side reason: (grant id, case the department states)} for each kind of bad grant."""
    expired = grant(stack, expires_at=expiry(stack, 1))
    revoked = grant(stack)
    stack.store("portal").RevokeConsent(
        pb.RevokeConsentRequest(grant_id=revoked.grant_id, holder_number=PERSON)
    )
    other_department = grant(stack, department_code=demo.ALIASES["hall"])
    other_type = grant(stack, type_codes=[MARRIAGE])
    other_matter = grant(stack)
    other_holder = grant(stack, holder_number=THIRD)
    clock.advance(timedelta(days=2))
    return {
        "CONSENT_NOT_FOUND": ("CG20260601100000FFFFFFFFFFFFFFFF", CASE),
        "CONSENT_EXPIRED": (expired.grant_id, CASE),
        "CONSENT_REVOKED": (revoked.grant_id, CASE),
        "CONSENT_WRONG_DEPARTMENT": (other_department.grant_id, CASE),
        "CONSENT_WRONG_TYPE": (other_type.grant_id, CASE),
        "CONSENT_WRONG_MATTER": (other_matter.grant_id, "ZJ-2026-9999"),
        "CONSENT_WRONG_HOLDER": (other_holder.grant_id, CASE),
    }


def test_every_bad_grant_is_the_same_refusal_to_the_department(stack, clock):
    certify(stack)
    baseline = refusals(stack, "housing", STRANGER)
    for reason, (grant_id, case) in bad_grants(stack, clock).items():
        for holder in (PERSON, STRANGER):
            got = refusals(stack, "housing", holder, grant_id, case)
            # The case number is part of the message nowhere: same answer throughout.
            assert got == baseline, (reason, holder)


def test_the_holder_is_told_exactly_why_a_grant_does_not_authorise_a_read(stack, clock):
    certify(stack)
    portal = stack.store("portal")
    bad = bad_grants(stack, clock)
    for reason, (grant_id, case) in bad.items():
        check = portal.CheckConsent(
            pb.CheckConsentRequest(
                grant_id=grant_id,
                holder_number=PERSON,
                department_code=demo.ALIASES["housing"],
                type_code=QUALIFICATION,
                case_number=case,
            )
        )
        expected = "CONSENT_NOT_FOUND" if reason == "CONSENT_WRONG_HOLDER" else reason
        assert (check.allowed, check.reason) == (False, expected)
    # ... and sees each refused attempt, with its reason, against the grant it named.
    for grant_id, case in bad.values():
        failure(reads(stack, "housing", PERSON, grant_id, case)["VerifyByHolder"])
    listed = portal.ListConsents(pb.ListConsentsRequest(holder_number=PERSON, page_size=200))
    outcomes = {u.outcome for g in listed.grants for u in g.uses}
    assert outcomes >= {
        "CONSENT_EXPIRED",
        "CONSENT_REVOKED",
        "CONSENT_WRONG_DEPARTMENT",
        "CONSENT_WRONG_TYPE",
        "CONSENT_WRONG_MATTER",
    }


def test_a_valid_grant_checks_valid_for_the_holder(stack):
    granted = grant(stack)
    check = stack.store("portal").CheckConsent(
        pb.CheckConsentRequest(
            grant_id=granted.grant_id,
            holder_number=PERSON,
            department_code=demo.ALIASES["housing"],
            type_code=QUALIFICATION,
            case_number=CASE,
        )
    )
    assert (check.allowed, check.reason, check.grant.grant_id) == (
        True,
        "CONSENT_VALID",
        granted.grant_id,
    )


def test_revocation_takes_effect_at_once_and_only_by_the_holder(stack):
    certify(stack)
    granted = grant(stack)
    reads(stack, "housing", PERSON, granted.grant_id)["VerifyByHolder"]()
    assert failure(
        lambda: stack.store("portal").RevokeConsent(
            pb.RevokeConsentRequest(grant_id=granted.grant_id, holder_number=STRANGER)
        )
    )[:3] == (
        grpc.StatusCode.NOT_FOUND,
        f"no consent {granted.grant_id} of this holder",
        "CONSENT_NOT_FOUND",
    )
    revoked = stack.store("portal").RevokeConsent(
        pb.RevokeConsentRequest(grant_id=granted.grant_id, holder_number=PERSON)
    )
    assert revoked.state == pb.CONSENT_STATE_REVOKED and revoked.revoked_at.seconds
    assert failure(reads(stack, "housing", PERSON, granted.grant_id)["VerifyByHolder"])[2] == (
        "CONSENT_REQUIRED"
    )


def test_a_grant_edited_in_the_database_authorises_nothing(stack):
    certify(stack)
    granted = grant(stack, department_code=demo.ALIASES["hall"])
    with stack.app.db.transaction() as conn:  # someone with the database moves the grant
        conn.execute(
            update(consent_grants)
            .where(consent_grants.c.grant_id == granted.grant_id)
            .values(department_code=demo.ALIASES["housing"])
        )
    assert failure(reads(stack, "housing", PERSON, granted.grant_id)["VerifyByHolder"])[2] == (
        "CONSENT_REQUIRED"
    )
    check = stack.store("portal").CheckConsent(
        pb.CheckConsentRequest(
            grant_id=granted.grant_id,
            holder_number=PERSON,
            department_code=demo.ALIASES["housing"],
            type_code=QUALIFICATION,
            case_number=CASE,
        )
    )
    assert check.reason == "CONSENT_SIGNATURE_INVALID"


def test_a_grant_for_one_licence_covers_only_it(stack):
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


# --- bad terms -----------------------------------------------------------------------------


def test_a_grant_longer_than_the_maximum_is_invalid_argument_naming_expires_at(stack):
    assert violations(lambda: grant(stack, expires_at=expiry(stack, 91))) == [
        ("expires_at", "CONSENT_TOO_LONG")
    ]
    assert grant(stack, expires_at=expiry(stack, 90)).state == pb.CONSENT_STATE_ACTIVE
    request = pb.GrantConsentRequest(
        holder_number=PERSON,
        department_code=demo.ALIASES["housing"],
        type_codes=[QUALIFICATION],
        case_number=CASE,
        valid_days=91,
    )
    portal = stack.store("portal")
    assert violations(lambda: portal.GrantConsent(request)) == [("valid_days", "CONSENT_TOO_LONG")]
    request.valid_days = 90
    granted = portal.GrantConsent(request)
    assert granted.expires_at.ToDatetime() - granted.granted_at.ToDatetime() == timedelta(days=90)


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ({"expires_at": None}, [("expires_at", "REQUIRED")]),
        ({"expires_at": Timestamp(seconds=1)}, [("expires_at", "IN_THE_PAST")]),
        ({"case_number": ""}, [("item_code", "MATTER")]),
        ({"type_codes": []}, [("type_codes", "SCOPE")]),
        ({"case_number": "x" * 65}, [("case_number", "TOO_LONG")]),
        ({"department_code": "91350100M000100Y43"}, [("department_code", "UNKNOWN_DEPARTMENT")]),
        ({"type_codes": ["11100000000013338W999"]}, [("type_codes[0]", "UNKNOWN_TYPE")]),
        (
            {"type_codes": [demo.BUSINESS_LICENCE.type_code]},
            [("type_codes[0]", "HOLDER_KIND")],
        ),
        ({"holder_number": "110105194912310021"}, [("holder_number", "CHECK_DIGIT")]),
    ],
)
def test_bad_terms_are_invalid_argument_naming_the_field(stack, terms, expected):
    if terms.get("expires_at", 0) is None:
        terms = {k: v for k, v in terms.items() if k != "expires_at"}
        request = {
            "holder_number": PERSON,
            "department_code": demo.ALIASES["housing"],
            "type_codes": [QUALIFICATION],
            "case_number": CASE,
        }
        got = violations(
            lambda: stack.store("portal").GrantConsent(pb.GrantConsentRequest(**request))
        )
    else:
        got = violations(lambda: grant(stack, **terms))
    assert [f for f, _ in got] == [f for f, _ in expected]
    if expected[0][1] != "CHECK_DIGIT":
        assert got == expected


def test_a_malformed_grant_id_on_a_read_is_invalid_argument_naming_it(stack):
    for call in reads(stack, "housing", PERSON, "not a grant!").values():
        assert violations(call) == [("consent_grant_id", "FORMAT")]


# --- audit verify: grants and revocations against their log entries ---------------------------


def audit_problems(stack: Stack) -> list[str]:
    with stack.app.db.read() as conn:
        report = verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)
    return [str(p) for p in report.problems]


def test_audit_verify_names_a_grant_edited_deleted_or_a_revocation_undone(stack):
    edited, undone, deleted = grant(stack), grant(stack), grant(stack)
    stack.store("portal").RevokeConsent(
        pb.RevokeConsentRequest(grant_id=undone.grant_id, holder_number=PERSON)
    )
    assert audit_problems(stack) == []
    with stack.app.db.transaction() as conn:
        c = consent_grants.c
        conn.execute(
            update(consent_grants)
            .where(c.grant_id == edited.grant_id)
            .values(expires_at=stack.app.clock.now() + timedelta(days=900))
        )
        conn.execute(
            update(consent_grants).where(c.grant_id == undone.grant_id).values(revoked_at=None)
        )
        conn.execute(delete(consent_grants).where(c.grant_id == deleted.grant_id))
    found = " | ".join(audit_problems(stack))
    assert f"consent_grant {edited.grant_id}): consent grant edited" in found
    assert f"consent_revoked {undone.grant_id}): consent revocation undone" in found
    assert f"consent_grant {deleted.grant_id}): consent grant deleted" in found


def test_items_and_types_not_marked_need_no_grant(stack):
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
