"""Who acted for an organisation: a grant (or revocation) the portal makes for an organisation
names the person it authenticated as acting for it (``acting_person``); the grant keeps that
ID number masked, in its row and in the signed body the log covers, so an edit of it is named
by audit verify. A person's own grant names no one else; a malformed or non-person number is
INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import json

from sqlalchemy import update

from services.common.identifiers import HolderKind, mask_holder_number
from services.licence_store import demo
from services.licence_store.persistence.tables import consent_grants
from tests.licence_store.consent_helpers import (
    PERSON,
    audit_problems,
    grant,
    stack,  # noqa: F401  (the fixture)
    violations,
)
from yihao.v1 import licence_store_pb2 as pb

COMPANY = "91350100M000100Y43"
REPRESENTATIVE = "110105195506150029"
MASKED = mask_holder_number(REPRESENTATIVE, HolderKind.PERSON)
BUSINESS = demo.BUSINESS_LICENCE.type_code


def _company_grant(stack, **terms) -> pb.ConsentGrant:  # noqa: F811
    return grant(stack, holder_number=COMPANY, type_codes=[BUSINESS], **terms)


def test_an_organisations_grant_and_revocation_keep_who_acted(stack):  # noqa: F811
    made = _company_grant(stack, acting_person=REPRESENTATIVE)
    assert made.granted_by == MASKED and REPRESENTATIVE not in str(made)
    assert json.loads(made.body_json)["granted_by"] == MASKED  # signed with the terms
    other = "11010519491231002X"
    revoked = stack.store("portal").RevokeConsent(
        pb.RevokeConsentRequest(grant_id=made.grant_id, holder_number=COMPANY, acting_person=other)
    )
    assert revoked.state == pb.CONSENT_STATE_REVOKED
    assert revoked.revoked_by == mask_holder_number(other, HolderKind.PERSON)
    (listed,) = (
        stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=COMPANY)).grants
    )
    assert (listed.granted_by, listed.revoked_by) == (made.granted_by, revoked.revoked_by)
    # Named by nobody (as before, and as the command line grants): nothing kept.
    assert _company_grant(stack).granted_by == ""
    assert audit_problems(stack) == []


def test_who_acted_edited_in_the_database_is_named_by_audit_verify(stack):  # noqa: F811
    made = _company_grant(stack, acting_person=REPRESENTATIVE)
    stack.store("portal").RevokeConsent(
        pb.RevokeConsentRequest(
            grant_id=made.grant_id, holder_number=COMPANY, acting_person=REPRESENTATIVE
        )
    )
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(consent_grants)
            .where(consent_grants.c.grant_id == made.grant_id)
            .values(granted_by="", revoked_by="360426********0071")
        )
    found = " | ".join(audit_problems(stack))
    assert f"consent_grant {made.grant_id}): consent grant edited" in found
    assert f"consent_revoked {made.grant_id})" in found


def test_acting_person_is_only_a_persons_number_and_only_for_an_organisation(stack):  # noqa: F811
    refused = violations(lambda: grant(stack, acting_person=REPRESENTATIVE))  # a person's own
    assert refused == [("acting_person", "ACTING_PERSON_NOT_ALLOWED")]
    assert violations(lambda: _company_grant(stack, acting_person=COMPANY)) == [
        ("acting_person", "HOLDER_KIND")
    ]
    (field, _reason), *_ = violations(lambda: _company_grant(stack, acting_person="1101051955"))
    assert field == "acting_person"
    made = grant(stack)
    revoke = pb.RevokeConsentRequest(
        grant_id=made.grant_id, holder_number=PERSON, acting_person=REPRESENTATIVE
    )
    assert violations(lambda: stack.store("portal").RevokeConsent(revoke)) == [
        ("acting_person", "ACTING_PERSON_NOT_ALLOWED")
    ]
    listed = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    assert [g.state for g in listed.grants] == [pb.CONSENT_STATE_ACTIVE]  # nothing revoked
