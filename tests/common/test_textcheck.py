"""refuse_nul: a NUL anywhere in a request's strings is refused, naming the field; requests
whose encoding has zero bytes for other reasons (empty values, zero numbers) pass; through a
real server on PostgreSQL, a NUL is refused at the boundary (the interceptor) and harms no one
else's call."""

from __future__ import annotations

import os
from collections.abc import Iterator

import grpc
import pytest

from services.common.errors import InvalidArgument
from services.common.paging import encode_token
from services.common.pki import DevPki
from services.common.textcheck import refuse_nul
from services.licence_store import demo
from testsupport.fuzz.harness import assert_answered, call, stop_stack
from testsupport.fuzz.templates import valid_fields
from testsupport.fuzz.values import NO_RATE_LIMITS, Code
from testsupport.stack import Stack, settings_for, start_stack
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb


def _record(**licence: object) -> pb.ImportRecord:
    base: dict[str, object] = {
        "idempotency_key": "key-00000001",
        "type_code": "11100000000013338W011",
        "licence_number": "N-1",
        "holder": common.Holder(number="91350100M000100Y43", name="福州示例"),
        "fields": {"address": "福州市鼓楼区五四路1号"},
    }
    return pb.ImportRecord(line=1, licence=pb.IssueLicenceRequest(**{**base, **licence}))


@pytest.mark.parametrize(
    ("licence", "path"),
    [
        ({"licence_number": "N\x00-1"}, "licence.licence_number"),
        ({"holder": common.Holder(number="9135", name="a\x00")}, "licence.holder.name"),
        ({"fields": {"address": "x\x00"}}, "licence.fields['address']"),
        ({"fields": {"k\x00": "x"}}, "licence.fields['k\\x00']"),
    ],
)
def test_a_nul_in_any_string_is_refused_with_its_path(licence: dict, path: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        refuse_nul(_record(**licence))
    assert caught.value.violations[0].field == path


def test_zero_bytes_that_are_not_characters_pass() -> None:
    record = _record(holder=common.Holder(), fields={"address": ""})
    record.line = 0
    assert b"\x00" in record.SerializeToString()  # the slow path is taken, and finds nothing
    refuse_nul(record)
    refuse_nul(_record())  # no zero byte at all: the fast path


# --- PostgreSQL only: NUL characters (text columns cannot hold them) ------------------------


@pytest.fixture(scope="module")
def pg_stack(
    pki: DevPki, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    template = request.getfixturevalue("pg_template")
    url = request.getfixturevalue("postgres").create_database(
        f"fuzzbugs{os.getpid()}", template=template
    )
    var = tmp_path_factory.mktemp("fuzz-pg")
    stack = start_stack(settings_for(url, var, pki, rate_limits_json=NO_RATE_LIMITS), pki)
    company = "91350100M000100Y43"
    stack.store("market").IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key="pg-bugs-issue-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="PG-1",
            holder=common_pb2.Holder(number=company, name="福州示例科技有限公司"),
            fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
        ),
        timeout=10.0,
    )
    yield stack
    stop_stack(stack)


def _by_number(number: str) -> licence_store_pb2.LicenceRef:
    return licence_store_pb2.LicenceRef(
        type_and_number=licence_store_pb2.TypeAndNumber(
            type_code=demo.BUSINESS_LICENCE.type_code, licence_number=number
        )
    )


NUL_LOOKUPS = {
    "GetLicence by type and number": (
        "hall",
        "/yihao.v1.LicenceStore/GetLicence",
        licence_store_pb2.GetLicenceRequest(licence=_by_number("PG-1\x00")),
    ),
    "VerifyLicence by type and number": (
        "hall",
        "/yihao.v1.Verifier/VerifyLicence",
        verifier_pb2.VerifyLicenceRequest(licence=_by_number("PG-1\x00")),
    ),
    "VerifyBatch by type and number": (
        "hall",
        "/yihao.v1.Verifier/VerifyBatch",
        verifier_pb2.VerifyBatchRequest(
            items=[verifier_pb2.VerifyLicenceRequest(licence=_by_number("\x00"))]
        ),
    ),
    "VerifyByHolder type_codes": (
        "hall",
        "/yihao.v1.Verifier/VerifyByHolder",
        verifier_pb2.VerifyByHolderRequest(holder_number="91350100M000100Y43", type_codes=["\x00"]),
    ),
    "MarkKeyCompromised key_id": (
        "data",
        "/yihao.v1.LicenceStore/MarkKeyCompromised",
        licence_store_pb2.MarkKeyCompromisedRequest(key_id="k\x00"),
    ),
    "GetInclusionProof ref": (
        "hall",
        "/yihao.v1.Verifier/GetInclusionProof",
        verifier_pb2.GetInclusionProofRequest(ref="r\x00"),
    ),
    "ListDepartments page_token": (
        "hall",
        "/yihao.v1.LicenceStore/ListDepartments",
        licence_store_pb2.ListDepartmentsRequest(page_token=encode_token("\x00")),
    ),
    "ListLicencesByHolder page_token": (
        "hall",
        "/yihao.v1.LicenceStore/ListLicencesByHolder",
        licence_store_pb2.ListLicencesByHolderRequest(
            holder_number="91350100M000100Y43", page_token=encode_token("\x00")
        ),
    ),
    "ListMyRequests page_token": (
        "hall",
        "/yihao.v1.Assistance/ListMyRequests",
        assistance_pb2.ListRequestsRequest(page_token=encode_token("\x00")),
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("case", sorted(NUL_LOOKUPS))
def test_regression_postgresql_nul_in_a_lookup(pg_stack: Stack, case: str):
    """Found by the fuzzer (fixed since): a NUL in a value used as a query parameter failed
    the statement on PostgreSQL (-> INTERNAL). Requests are now refused at the boundary; a
    batch answers that item on its own."""
    alias, path, request = NUL_LOOKUPS[case]
    outcome = call(pg_stack.channel(alias), path, [request])
    if path.endswith("/VerifyBatch") and outcome.code == Code.OK:
        answers = [a for r in outcome.responses for a in r.results]
        assert [a.verdict for a in answers] == [verifier_pb2.VERDICT_NOT_FOUND]
        return
    assert_answered(outcome, Code.INVALID_ARGUMENT, Code.NOT_FOUND)


@pytest.mark.postgres
def test_regression_postgresql_nul_in_purpose_does_not_fail_other_callers(pg_stack: Stack):
    import threading

    ref = _by_number("PG-1")
    outcomes: dict[str, list[grpc.StatusCode]] = {}

    def read(alias: str, purpose: str) -> None:
        request = licence_store_pb2.GetLicenceRequest(licence=ref, purpose=purpose)
        path = "/yihao.v1.LicenceStore/GetLicence"
        codes = [call(pg_stack.channel(alias), path, [request]).code for _ in range(30)]
        outcomes[alias] = codes

    threads = [threading.Thread(target=read, args=("data", "核验\x00"))] + [
        threading.Thread(target=read, args=(alias, "窗口核验"))
        for alias in ("hall", "market", "portal", "supervision")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = set(outcomes.pop("data"))
    assert {alias: set(codes) for alias, codes in outcomes.items()} == {
        alias: {Code.OK} for alias in outcomes
    }
    assert refused == {Code.INVALID_ARGUMENT}
