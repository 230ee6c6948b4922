"""Consent (授权用证, issue 16 items 1, 2 and 4), through a real server on both backends: bad
grants.

Every bad grant (unknown, another holder's, expired, revoked, another department's, another
matter's, another type's, edited in the database) is one and the same refusal to the
department, the same as no grant at all and whether or not the person holds such a licence,
while the holder's side is told exactly which; a revocation takes effect at once and only by
the holder.
"""

from __future__ import annotations

import grpc
from sqlalchemy import update

from services.licence_store import demo
from services.licence_store.persistence.tables import consent_grants
from tests.licence_store.consent_helpers import (
    CASE,
    PERSON,
    QUALIFICATION,
    STRANGER,
    bad_grants,
    certify,
    failure,
    grant,
    reads,
    refusals,
    stack,  # noqa: F401  (the fixture)
)
from yihao.v1 import licence_store_pb2 as pb

# --- bad grants: one refusal to the department, the exact reason to the holder -----------------


def test_every_bad_grant_is_the_same_refusal_to_the_department(stack, clock):  # noqa: F811
    certify(stack)
    baseline = refusals(stack, "housing", STRANGER)
    for reason, (grant_id, case) in bad_grants(stack, clock).items():
        for holder in (PERSON, STRANGER):
            got = refusals(stack, "housing", holder, grant_id, case)
            # The case number is part of the message nowhere: same answer throughout.
            assert got == baseline, (reason, holder)


def test_the_holder_is_told_exactly_why_a_grant_does_not_authorise_a_read(stack, clock):  # noqa: F811
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


def test_a_valid_grant_checks_valid_for_the_holder(stack):  # noqa: F811
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


def test_revocation_takes_effect_at_once_and_only_by_the_holder(stack):  # noqa: F811
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


def test_a_grant_edited_in_the_database_authorises_nothing(stack):  # noqa: F811
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
