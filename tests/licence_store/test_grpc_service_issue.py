"""The licence store through a real gRPC server with mutual TLS, on SQLite and PostgreSQL:
issuing — holder numbers checked (citizen ID, credit code, the legacy 15-digit form), the
identifier minted and the content signed, idempotent retries, field and permission checks.
"""

from __future__ import annotations

import threading

import grpc
import pytest

from services.common.signing import PublicKey, canonical_json, sha256_hex
from services.licence_store import demo
from tests.licence_store.grpc_service_helpers import (
    BUSINESS,
    BUSINESS_FIELDS,
    COMPANY,
    PERSON,
    details,
    issue_business,
    issue_residence,
)
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

# ------------------------------------------------------------------------------ holder numbers


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("110105194912310021", "CHECK_CHARACTER"),
        ("110105194902300020", "BIRTH_DATE"),
        ("1101051949123100AX", "CHARACTER_SET"),
        ("11010519491231002", "LENGTH"),
    ],
)
def test_invalid_citizen_id_is_refused_naming_field_and_rule(stack, number, rule):
    with pytest.raises(grpc.RpcError) as caught:
        issue_residence(stack, "R-1", holder=number)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations, _ = details(caught.value)
    assert [(f, r) for f, r, _ in violations] == [("holder.number", rule)]


@pytest.mark.parametrize(
    ("number", "rule", "expected"),
    [
        ("91110000600037341M", "CHECK_CHARACTER", "'L'"),
        ("9111000060003734IL", "CHARACTER_SET", "'I'"),
        ("91110000600037342P", "ORGANISATION_CODE_CHECK", "'1'"),
    ],
)
def test_invalid_credit_code_is_refused_naming_the_rule(stack, number, rule, expected):
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, holder=number)
    violations, _ = details(caught.value)
    assert len(violations) == 1
    field, reason, description = violations[0]
    assert (field, reason) == ("holder.number", rule)
    assert expected in description


@pytest.mark.parametrize(
    "number",
    ["91110000600037341L", "914403001922038216", "91350100M000100Y43", "9135052155323005XL"],
)
def test_valid_credit_codes_are_accepted(stack, number):
    licence = issue_business(stack, number=f"N-{number}", holder=number)
    assert licence.holder.number == number


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", "360426199101010071", "320106198707105231", "51010719990228004X"],
)
def test_valid_citizen_ids_are_accepted(stack, number):
    assert issue_residence(stack, f"R-{number}", holder=number).holder.number == number


def test_legacy_15_digit_number_is_stored_as_18_and_finds_the_licence(stack):
    licence = issue_residence(stack, "R-legacy", holder="110105491231002")
    assert licence.holder.number == "11010519491231002X"
    found = stack.store("police").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(**WHY, holder_number="110105491231002")
    )
    assert [lic.licence_id for lic in found.licences] == [licence.licence_id]


def test_person_number_for_an_organisation_licence_is_refused(stack):
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, holder=PERSON)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------------------------ issuing


def test_issue_mints_a_valid_identifier_and_signs_the_canonical_content(stack):
    licence = issue_business(stack)
    assert licence.licence_id.startswith(f"1.2.156.3005.2.{BUSINESS}.{demo.ALIASES['market']}.")
    assert licence.version == 1
    assert licence.effective_status == common.EFFECTIVE_STATUS_VALID
    assert licence.type_name == "营业执照"
    assert licence.issuer_name == "福州市市场监督管理局"
    stored = stack.app.licence_store.queries.get(None, _ref(licence))  # type: ignore[arg-type]
    content = canonical_json(stored.stored.licence.content())
    assert sha256_hex(content) == licence.content_sha256
    dept = stack.store("market").GetDepartment(
        pb.GetDepartmentRequest(credit_code=demo.ALIASES["market"])
    )
    key = next(k for k in dept.signing_keys if k.key_id == licence.signature.key_id)
    public = PublicKey.from_pem(key.key_id, key.public_key_pem)
    assert public.verify(content, licence.signature.value)
    assert not public.verify(content + b" ", licence.signature.value)


def _ref(licence: pb.Licence):
    from services.licence_store.domain.reading import LicenceRef

    return LicenceRef(licence_id=licence.licence_id)


def test_retried_issue_returns_the_same_licence(stack):
    first = issue_business(stack, key="retry-key-1")
    second = issue_business(stack, key="retry-key-1")
    assert second.licence_id == first.licence_id
    listed = stack.store("market").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(**WHY, holder_number=COMPANY)
    )
    assert len(listed.licences) == 1


def test_concurrent_retries_with_one_key_make_one_licence(stack):
    results: list[str] = []
    errors: list[Exception] = []

    def attempt() -> None:
        try:
            results.append(issue_business(stack, key="race-key-01").licence_id)
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1


def test_same_key_with_another_body_is_refused(stack):
    issue_business(stack, number="A-1", key="reused-key-1")
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, number="A-2", key="reused-key-1")
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert details(caught.value)[1] == "IDEMPOTENCY_KEY_REUSED"


def test_licence_number_is_unique_within_its_type(stack):
    issue_business(stack, number="DUP-1", key="dup-key-one")
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, number="DUP-1", key="dup-key-two")
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_missing_key_and_bad_fields_are_reported_together(stack):
    request = pb.IssueLicenceRequest(
        idempotency_key="fields-key-1",
        type_code=BUSINESS,
        licence_number="F-1",
        holder=common.Holder(number=COMPANY, name="x"),
        fields={"registered_capital": "five hundred", "colour": "red"},
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").IssueLicence(request)
    fields = {f: r for f, r, _ in details(caught.value)[0]}
    assert fields["fields.registered_capital"] == "DECIMAL_FORMAT"
    assert fields["fields.colour"] == "UNKNOWN_FIELD"
    assert fields["fields.legal_representative"] == "REQUIRED"


def test_idempotency_key_is_required(stack):
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, key="short")
    assert details(caught.value)[0][0][:2] == ("idempotency_key", "IDEMPOTENCY_KEY")


def test_department_may_only_issue_types_it_is_registered_for(stack):
    request = pb.IssueLicenceRequest(
        idempotency_key="civil-issues-business",
        type_code=BUSINESS,
        licence_number="X-1",
        holder=common.Holder(number=COMPANY, name="x"),
        fields=BUSINESS_FIELDS,
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("civil").IssueLicence(request)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(caught.value)[1] == "NOT_REGISTERED_ISSUER"
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("hall").IssueLicence(request)  # a handler, not an operator at all
    assert details(caught.value)[1] == "ROLE_REQUIRED"
