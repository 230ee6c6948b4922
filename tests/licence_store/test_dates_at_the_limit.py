"""Issue, import and renew at the end of the calendar (9999-12-31): refused, never INTERNAL.

Covers Validity.starting and Licence.renew (services/licence_store/domain/licence.py) through
the licence store's RPCs.
"""

from __future__ import annotations

import grpc
import pytest

from services.licence_store import demo
from testsupport.fuzz.harness import assert_answered, call
from testsupport.fuzz.templates import valid_fields
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

Code = grpc.StatusCode


def residence(number: str, **overrides: str) -> pb.IssueLicenceRequest:
    return pb.IssueLicenceRequest(
        idempotency_key=f"limit-{number}",
        type_code=demo.RESIDENCE_PERMIT.type_code,  # 365 days' validity by default
        licence_number=number,
        holder=common.Holder(number="11010519491231002X", name="张三"),
        fields=valid_fields(demo.RESIDENCE_PERMIT.type_code),
        **overrides,
    )


@pytest.mark.parametrize("method", ["IssueLicence", "ImportLicences"])
def test_regression_issue_with_default_validity_past_9999(stack: Stack, method: str):
    """Found by the fuzzer (fixed since): valid_from + the type's default validity beyond
    9999-12-31 overflows in Validity.starting (OverflowError -> INTERNAL); in ImportLicences the
    one record ends the whole stream instead of being REJECTED.
    """
    bad = residence("LIMIT-BAD", valid_from="9999-06-01")
    if method == "IssueLicence":
        outcome = call(stack.channel("police"), "/yihao.v1.LicenceStore/IssueLicence", [bad])
        assert_answered(outcome, Code.INVALID_ARGUMENT)
        return
    message = pb.ImportLicencesRequest(
        records=[
            pb.ImportRecord(line=1, licence=residence("LIMIT-OK")),
            pb.ImportRecord(line=2, licence=bad),
        ]
    )
    outcome = call(stack.channel("police"), "/yihao.v1.LicenceStore/ImportLicences", [message])
    assert_answered(outcome, Code.OK)
    assert [r.outcome for m in outcome.responses for r in m.results] == [
        pb.IMPORT_OUTCOME_ACCEPTED,
        pb.IMPORT_OUTCOME_REJECTED,
    ]


def test_regression_renew_past_9999(stack: Stack):
    """Found by the fuzzer (fixed since): renewing (default period) a licence valid until
    9999-12-31 computes 9999-12-31 + 1 day in Licence.renew (OverflowError -> INTERNAL). Dates
    in requests now end at 2999-12-31 (services.common.dates): renew from there.
    """
    licence = stack.store("police").IssueLicence(residence("LIMIT-R", valid_until="2999-12-31"))
    request = pb.RenewLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
    outcome = call(stack.channel("police"), "/yihao.v1.LicenceStore/RenewLicence", [request])
    assert_answered(outcome, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION)
