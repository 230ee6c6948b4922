"""Every date a request carries is bounded where it is parsed: outside 1800-01-01..2999-12-31
it is INVALID_ARGUMENT naming the field and the range, never INTERNAL (9999-12-31 in
Supervise's submitted_to once overflowed the day arithmetic), through real gRPC servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.dates import DATE_MAX, DATE_MIN, parse_date
from services.common.errors import InvalidArgument
from services.licence_store import demo
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

COMPANY = "91350100M000100Y43"
PERSON = "11010519491231002X"
TOO_LATE = ("9999-12-31", "3000-01-01")
TOO_EARLY = ("0001-01-01", "1799-12-31")


def _issue(stack: Stack, key: str, **kw: str) -> pb.Licence:
    fields = dict(BUSINESS_FIELDS)
    fields.update(kw.pop("fields", {}))  # type: ignore[call-overload]
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=key,
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=key,
            holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
            fields=fields,
            **kw,
        )
    )


def _renew(stack: Stack, day: str) -> object:
    licence = _issue(stack, "renew-base-1", valid_until="2027-05-31")
    return stack.store("market").RenewLicence(
        pb.RenewLicenceRequest(
            idempotency_key=f"renew-{day}",
            licence=pb.LicenceRef(licence_id=licence.licence_id),
            valid_until=day,
        )
    )


def _commit(stack: Stack, day: str) -> object:
    return stack.assistance("hall").RecordCommitment(
        apb.RecordCommitmentRequest(
            applicant_number=PERSON,
            licence_type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            case_number="ZJ-2026-900",
            check_by=day,
        )
    )


def _supervise(stack: Stack, **period: str) -> object:
    return stack.assistance("supervision").Supervise(apb.SuperviseRequest(**period))


#: Every request field that takes a date: (field name as reported, a call sending ``day`` in it).
CALLS: dict[str, Callable[[Stack, str], object]] = {
    "valid_from": lambda s, day: _issue(s, f"from-{day}", valid_from=day),
    "valid_until": lambda s, day: _issue(s, f"until-{day}", valid_until=day),
    "fields.established_on": lambda s, day: _issue(s, f"f-{day}", fields={"established_on": day}),
    "renew.valid_until": _renew,
    "check_by": _commit,
    "submitted_from": lambda s, day: _supervise(s, submitted_from=day),
    "submitted_to": lambda s, day: _supervise(s, submitted_to=day),
}


def _violations(err: grpc.RpcError) -> list[tuple[str, str, str]]:
    status = rpc_status.from_call(err)
    assert status is not None
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [(v.field, v.reason, v.description) for v in bad.field_violations]
    return found


@pytest.mark.parametrize("day", TOO_LATE + TOO_EARLY)
@pytest.mark.parametrize("name", list(CALLS))
def test_a_date_outside_the_range_is_refused_naming_field_and_range(
    stack: Stack, name: str, day: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        CALLS[name](stack, day)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    field = name.removeprefix("renew.")
    assert [(f, r) for f, r, _ in _violations(caught.value)] == [(field, "DATE_RANGE")]
    assert "1800-01-01 to 2999-12-31" in caught.value.details()


@pytest.mark.parametrize("name", ["valid_until", "fields.established_on", "submitted_to"])
def test_the_ends_of_the_range_are_accepted(stack: Stack, name: str) -> None:
    CALLS[name](stack, DATE_MAX.isoformat())
    if name != "valid_until":  # valid_from may not come after valid_until
        CALLS[name](stack, DATE_MIN.isoformat())


def test_supervise_to_the_last_allowed_day_reports_the_period(stack: Stack) -> None:
    report = stack.assistance("supervision").Supervise(
        apb.SuperviseRequest(submitted_from=DATE_MIN.isoformat(), submitted_to=DATE_MAX.isoformat())
    )
    assert report.as_of.seconds > 0


def test_parse_date_bounds_and_form() -> None:
    assert parse_date("2999-12-31", "d") == date(2999, 12, 31)
    assert parse_date("1800-01-01", "d") == date(1800, 1, 1)
    for raw, reason in [("3000-01-01", "DATE_RANGE"), ("2026-02-30", "DATE_FORMAT")]:
        with pytest.raises(InvalidArgument) as caught:
            parse_date(raw, "d")
        assert caught.value.reason == reason
        assert caught.value.violations[0].field == "d"
