"""Consent (授权用证, issue 16 items 1, 2 and 4), through a real server on both backends: the
grants themselves.

The holder portal grants (signed by the portal over its own id, and logged) and lists, and a
department lists its own; a grant longer than the maximum is INVALID_ARGUMENT naming the
field, as are other bad terms; audit verify names a grant edited or deleted, or a
revocation undone, in the database.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import delete, update

from services.common.signing import PublicKey
from services.licence_store import demo
from services.licence_store.persistence.tables import consent_grants
from tests.licence_store.consent_helpers import (
    CASE,
    PERSON,
    QUALIFICATION,
    STRANGER,
    audit_problems,
    expiry,
    grant,
    reads,
    stack,  # noqa: F401  (the fixture)
    violations,
)
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

# --- granting and listing ---------------------------------------------------------------------


def test_a_grant_is_signed_by_the_portal_over_its_own_id_and_logged(stack):  # noqa: F811
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


def test_listing_holder_side_and_department_side(stack):  # noqa: F811
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


# --- bad terms -----------------------------------------------------------------------------


def test_a_grant_longer_than_the_maximum_is_invalid_argument_naming_expires_at(stack):  # noqa: F811
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
def test_bad_terms_are_invalid_argument_naming_the_field(stack, terms, expected):  # noqa: F811
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


def test_a_malformed_grant_id_on_a_read_is_invalid_argument_naming_it(stack):  # noqa: F811
    for call in reads(stack, "housing", PERSON, "not a grant!").values():
        assert violations(call) == [("consent_grant_id", "FORMAT")]


# --- audit verify: grants and revocations against their log entries ---------------------------


def test_audit_verify_names_a_grant_edited_deleted_or_a_revocation_undone(stack):  # noqa: F811
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
