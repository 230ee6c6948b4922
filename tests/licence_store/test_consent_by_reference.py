"""Consent as a ground for reading a licence by reference (GetLicence's consent_grant_id),
through a real server on both backends: a department the catalogue does not let read a
consent-required type reads the licence the holder's grant covers (every field, sensitive
ones masked), the use recorded against the grant and in the holder's access records; a
grant for one licence covers only it; every bad grant is NOT_FOUND, the same answer as for a
licence that does not exist, while the holder is told why; a department the catalogue lets
read does not use the grant."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import grpc
from sqlalchemy import update

from services.common.licence_ids import parse_licence_identifier
from services.licence_store.persistence.tables import consent_grants
from tests.licence_store.consent_helpers import (
    CASE,
    PERSON,
    WHY,
    audit_problems,
    bad_grants,
    certify,
    failure,
    grant,
    reads,
    stack,  # noqa: F401  (the fixture)
    violations,
)
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import licence_store_pb2 as pb


def nowhere(licence: pb.Licence) -> str:
    """A well-formed identifier of the same type and issuer that names no licence."""
    ident = parse_licence_identifier(licence.licence_id)
    return str(replace(ident, serial=ident.serial[:-4] + "0000"))


def get(on: Stack, alias: str, licence_id: str, grant_id: str = "", case: str = CASE) -> Any:
    request = pb.GetLicenceRequest(
        licence=pb.LicenceRef(licence_id=licence_id),
        consent_grant_id=grant_id,
        **{**WHY, "case_number": case},
    )
    return lambda: on.store(alias).GetLicence(request)


def test_a_grant_lets_a_department_read_the_licence_by_reference(stack) -> None:  # noqa: F811
    licence = certify(stack)
    granted = grant(stack)
    refused = failure(get(stack, "housing", licence.licence_id))  # no grant: as no licence
    nothing = failure(get(stack, "housing", nowhere(licence)))
    assert refused[0] == nothing[0] == grpc.StatusCode.NOT_FOUND and refused[2] == nothing[2]
    read = get(stack, "housing", licence.licence_id, granted.grant_id)()
    assert read.licence_id == licence.licence_id and read.fields["occupation"] == "电工"
    assert read.holder.number == "110105********002X"
    holder_side = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    [seen] = holder_side.grants
    assert [(u.channel, u.outcome) for u in seen.uses] == [("licence_store", "USED")]
    records = (
        stack.assistance("portal")
        .ListAccessRecords(apb.ListAccessRecordsRequest(holder_number=PERSON))
        .records
    )
    assert any(
        r.channel == "licence_store" and f"under consent {granted.grant_id}" in r.what
        for r in records
    )


def test_a_grant_for_one_licence_reads_only_that_one(stack) -> None:  # noqa: F811
    first = certify(stack, "RS-2025-000001")
    second = certify(stack, "RS-2025-000002")
    granted = grant(stack, type_codes=[], licence_id=first.licence_id)
    assert get(stack, "housing", first.licence_id, granted.grant_id)().licence_id == (
        first.licence_id
    )
    code = failure(get(stack, "housing", second.licence_id, granted.grant_id))[0]
    assert code == grpc.StatusCode.NOT_FOUND


def test_every_bad_grant_is_not_found_as_for_no_licence(stack, clock) -> None:  # noqa: F811
    licence = certify(stack)
    nothing = failure(get(stack, "housing", nowhere(licence)))
    for reason, (grant_id, case) in bad_grants(stack, clock).items():
        got = failure(get(stack, "housing", licence.licence_id, grant_id, case))
        assert got[0] == nothing[0] == grpc.StatusCode.NOT_FOUND, reason
        assert got[2] == nothing[2], reason
    listed = stack.store("portal").ListConsents(
        pb.ListConsentsRequest(holder_number=PERSON, page_size=200)
    )
    outcomes = {u.outcome for g in listed.grants for u in g.uses if u.channel == "licence_store"}
    assert outcomes >= {"CONSENT_EXPIRED", "CONSENT_REVOKED", "CONSENT_WRONG_MATTER"}


def test_the_issuer_reads_without_using_the_grant_and_a_bad_id_is_named(stack) -> None:  # noqa: F811
    licence = certify(stack)
    granted = grant(stack)  # to housing
    own = get(stack, "hrss", licence.licence_id, granted.grant_id)()
    assert own.licence_id == licence.licence_id  # the catalogue already shows it: no grant used
    listed = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    assert all(not g.uses for g in listed.grants)
    assert violations(get(stack, "housing", licence.licence_id, "not a grant!")) == [
        ("consent_grant_id", "FORMAT")
    ]


def test_a_revocation_undone_in_the_database_still_refuses(stack) -> None:  # noqa: F811
    """Someone with the database clears a revoked grant's revoked_at: the log still holds the
    revocation, so every read is still refused CONSENT_REVOKED (the holder sees it revoked),
    and ``yihao audit verify`` names the edit."""
    licence = certify(stack)
    granted = grant(stack)
    portal = stack.store("portal")
    portal.RevokeConsent(pb.RevokeConsentRequest(grant_id=granted.grant_id, holder_number=PERSON))
    with stack.app.db.transaction() as conn:
        conn.execute(
            update(consent_grants)
            .where(consent_grants.c.grant_id == granted.grant_id)
            .values(revoked_at=None)
        )
    code = failure(get(stack, "housing", licence.licence_id, granted.grant_id))[0]
    assert code == grpc.StatusCode.NOT_FOUND
    listed = reads(stack, "housing", PERSON, granted.grant_id)["VerifyByHolder"]
    assert failure(listed)[2] == "CONSENT_REQUIRED"
    [seen] = portal.ListConsents(pb.ListConsentsRequest(holder_number=PERSON)).grants
    assert seen.state == pb.CONSENT_STATE_REVOKED
    assert {u.outcome for u in seen.uses} == {"CONSENT_REVOKED"}
    assert any("revocation" in p for p in audit_problems(stack))


def test_a_grant_lets_a_department_read_the_licences_history_too(stack) -> None:  # noqa: F811
    licence = certify(stack)
    granted = grant(stack)

    def history(grant_id: str = "") -> Any:
        request = pb.GetLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id),
            consent_grant_id=grant_id,
            **WHY,
        )
        return lambda: stack.store("housing").GetLicenceHistory(request)

    assert failure(history())[0] == grpc.StatusCode.NOT_FOUND
    got = history(granted.grant_id)()
    assert [v.fields["occupation"] for v in got.versions] == ["电工"]
    assert got.versions[0].holder.number == "110105********002X"
    [seen] = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON)).grants
    assert [(u.channel, u.outcome) for u in seen.uses] == [("licence_store", "USED")]
