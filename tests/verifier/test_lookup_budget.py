"""No oracle by volume, the lookup side: a department's lookups by a person's number that find
nothing are budgeted per day. Past the budget every lookup of a person's number — VerifyByHolder,
ListLicencesByHolder and CheckMaterials, found or not — is refused RESOURCE_EXHAUSTED
LOOKUP_BUDGET_EXHAUSTED before anything is read, and supervision is alerted; answers that find
something cost nothing; other departments, the holder portal and lookups of credit codes are
not affected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.common.clock import FixedClock
from services.common.lookup_budget import LOOKUP_BUDGET_EXHAUSTED
from services.licence_store import demo
from tests.verifier.test_match_budget import HOLDER, candidates, issue_permit
from testsupport.samples import issue_business_licence
from testsupport.stack import Stack, settings_for, start_stack
from testsupport.why import WHY
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

BUDGET = 3
COMPANY = "91350100M000100Y43"


@pytest.fixture
def small(database_url: str, pki, tmp_path: Path, clock: FixedClock) -> Iterator[Stack]:
    settings = settings_for(database_url, tmp_path, pki, lookup_miss_budget=BUDGET)
    s = start_stack(settings, pki, clock=clock)
    yield s
    s.stop()


def _by_holder(stack: Stack, alias: str, number: str) -> vpb.VerifyByHolderResponse:
    return stack.verifier(alias).VerifyByHolder(
        vpb.VerifyByHolderRequest(holder_number=number, **WHY)
    )


def _refused(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    return str(caught.value.details())


def test_misses_past_the_budget_refuse_every_lookup_of_a_person(small: Stack) -> None:
    issue_permit(small.store("police"))
    for _ in range(BUDGET + 2):  # finding something costs nothing
        found = _by_holder(small, "hall", HOLDER)
        assert found.verifications[0].verdict == vpb.VERDICT_VALID
    nobody = [n for n in candidates() if n != HOLDER][:BUDGET]
    for number in nobody:
        answer = _by_holder(small, "hall", number)
        assert [r.verdict for r in answer.verifications] == [vpb.VERDICT_NOT_FOUND]

    # Spent: refused whether the person holds licences or not (the refusal tells nothing).
    assert "budget" in _refused(lambda: _by_holder(small, "hall", HOLDER))
    _refused(lambda: _by_holder(small, "hall", candidates()[500]))
    listing = pb.ListLicencesByHolderRequest(holder_number=HOLDER, **WHY)
    _refused(lambda: small.store("hall").ListLicencesByHolder(listing))

    # Others are not affected: another department, the holder portal, an organisation.
    assert _by_holder(small, "housing", HOLDER).verifications[0].verdict == vpb.VERDICT_VALID
    mine = small.store("portal").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(holder_number=HOLDER, **WHY)
    )
    assert len(mine.licences) == 1
    issue_business_licence(small.store("market"), COMPANY)
    assert _by_holder(small, "hall", COMPANY).verifications[0].verdict == vpb.VERDICT_VALID

    report = small.assistance("supervision").Supervise(apb.SuperviseRequest())
    alerts = [(a.department_code, a.kind) for a in report.alerts]
    assert alerts == [(demo.ALIASES["hall"], LOOKUP_BUDGET_EXHAUSTED)]  # once
    assert all(HOLDER not in a.subject for a in report.alerts)


def test_listing_misses_count_too_and_the_budget_ends_at_midnight(
    small: Stack, clock: FixedClock
) -> None:
    from datetime import timedelta

    for number in candidates()[:BUDGET]:
        listed = small.store("housing").ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(holder_number=number, **WHY)
        )
        assert list(listed.licences) == []
    _refused(lambda: _by_holder(small, "housing", HOLDER))
    clock.advance(timedelta(days=1))
    assert [r.verdict for r in _by_holder(small, "housing", HOLDER).verifications] == [
        vpb.VERDICT_NOT_FOUND
    ]


def _materials(stack: Stack, number: str) -> vpb.MaterialsCheck:
    return stack.verifier("hall").CheckMaterials(
        vpb.CheckMaterialsRequest(**WHY, item_code="FZ-ZJ-0001", applicant_number=number)
    )


def test_a_materials_check_is_a_lookup_of_the_applicant_too(small: Stack) -> None:
    issue_permit(small.store("police"))
    for _ in range(BUDGET + 2):  # the applicant holds a residence permit: costs nothing
        held = _materials(small, HOLDER)
        assert [m.material.name for m in held.materials if m.covered] == ["居住证"]
    for number in [n for n in candidates() if n != HOLDER][:BUDGET]:
        assert not any(m.covered for m in _materials(small, number).materials)
    # Spent by materials checks: every lookup of a person's number is refused.
    _refused(lambda: _materials(small, HOLDER))
    _refused(lambda: _by_holder(small, "hall", HOLDER))
