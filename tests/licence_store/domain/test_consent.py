"""The consent rules as plain functions: states, refusals in order, the matter, the terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.errors import InvalidArgument
from services.common.identifiers import HolderKind
from services.licence_store.domain import consent as dc
from services.licence_store.domain.catalogue import LicenceType

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
TYPE = "11100000000013338W021"


def grant(**changes) -> dc.ConsentGrant:
    values = {
        "grant_id": "CG1",
        "holder_key": "h",
        "holder_masked": "110105********002X",
        "holder_kind": "person",
        "department_code": "D",
        "type_codes": (TYPE,),
        "licence_id": "",
        "licence_serial": "",
        "item_code": "",
        "case_number": "C-1",
        "granted_at": T0,
        "expires_at": T0 + timedelta(days=30),
        "portal_code": "P",
        **changes,
    }
    return dc.ConsentGrant(**values)


def refusal(g: dc.ConsentGrant | None, **read) -> str:
    args = {
        "holder_key": "h",
        "department_code": "D",
        "type_code": TYPE,
        "matter": dc.Matter(case_number="C-1"),
        "now": T0 + timedelta(days=1),
        **read,
    }
    return dc.refusal(g, **args)


def test_each_kind_of_bad_grant_has_its_own_reason():
    assert refusal(grant()) == ""
    assert refusal(None) == dc.NOT_FOUND
    assert refusal(grant(holder_key="other")) == dc.WRONG_HOLDER
    assert refusal(grant(), now=T0 + timedelta(days=30)) == dc.EXPIRED
    assert refusal(grant(revoked_at=T0)) == dc.REVOKED
    assert refusal(grant(department_code="E")) == dc.WRONG_DEPARTMENT
    assert refusal(grant(), matter=dc.Matter(case_number="C-2")) == dc.WRONG_MATTER
    assert refusal(grant(), type_code="11100000000013338W032") == dc.WRONG_TYPE


def test_revoked_wins_over_expired_and_both_over_the_read_terms():
    old = grant(revoked_at=T0, department_code="E")
    assert refusal(old, now=T0 + timedelta(days=40)) == dc.REVOKED
    assert refusal(grant(department_code="E"), now=T0 + timedelta(days=40)) == dc.EXPIRED


def test_the_matter_needs_every_part_the_grant_names():
    both = grant(item_code="FZ-RS-0002")
    assert dc.matter_matches(both, dc.Matter("FZ-RS-0002", "C-1"))
    assert not dc.matter_matches(both, dc.Matter("", "C-1"))
    assert not dc.matter_matches(both, dc.Matter("FZ-RS-0002", "C-2"))
    item_only = grant(item_code="FZ-RS-0002", case_number="")
    assert dc.matter_matches(item_only, dc.Matter("FZ-RS-0002", "any case"))


def test_the_signed_body_names_the_grant_itself():
    assert dc.ConsentGrant.body(grant())["grant_id"] == "CG1"
    assert grant().body() != grant(grant_id="CG2").body()


def test_a_pass_admits_only_what_it_covers():
    passed = dc.ConsentPass("CG1", frozenset({TYPE}), frozenset({"X"}), licence_serial="S1")
    assert passed.admits(TYPE, "S1") and not passed.admits(TYPE, "S2")
    assert not passed.admits("X", "S9")
    assert passed.admits("other type", "S9")
    assert passed.note == " under consent CG1" and dc.ConsentPass().note == ""


def test_issuers_and_the_portal_need_no_consent():
    lt = LicenceType(TYPE, "职业资格证书", HolderKind.PERSON, (), 0, frozenset({"I"}), True)
    assert dc.needs_consent(lt, "D", holder_portal=False)
    assert not dc.needs_consent(lt, "I", holder_portal=False)
    assert not dc.needs_consent(lt, "D", holder_portal=True)


@pytest.mark.parametrize(
    ("expires", "days", "field", "reason"),
    [
        (T0 + timedelta(days=91), 0, "expires_at", "CONSENT_TOO_LONG"),
        (None, 91, "valid_days", "CONSENT_TOO_LONG"),
        (None, 0, "expires_at", "REQUIRED"),
        (T0, 0, "expires_at", "IN_THE_PAST"),
        (T0 + timedelta(days=1), 1, "valid_days", "BOTH"),
        (None, -1, "valid_days", "OUT_OF_RANGE"),
    ],
)
def test_expiry_rules_name_their_field(expires, days, field, reason):
    with pytest.raises(InvalidArgument) as caught:
        dc.check_terms((TYPE,), "", "", "C-1", expires, T0, 90, days)
    assert [(v.field, v.reason) for v in caught.value.violations] == [(field, reason)]


def test_the_maximum_itself_is_allowed():
    dc.check_terms((TYPE,), "", "", "C-1", T0 + timedelta(days=90), T0, 90)
    dc.check_terms((TYPE,), "", "", "C-1", None, T0, 90, 90)
