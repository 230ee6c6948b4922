"""What the consent tests share (授权用证, issue 16 items 1, 2 and 4): the ``stack`` fixture, a
served stack whose limit on lookups by holder number is raised (import it into a test module
to use it there), holders, a consent-required licence type and a licence of it, grants, the
reads by holder number a grant authorises, one grant of each bad kind, how a refusal is
read, and what audit verify finds.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.audit import verify
from services.licence_store import demo
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


def audit_problems(stack: Stack) -> list[str]:
    with stack.app.db.read() as conn:
        report = verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)
    return [str(p) for p in report.problems]
