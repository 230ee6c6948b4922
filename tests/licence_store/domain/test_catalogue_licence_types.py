"""Unit tests of licence types in the catalogue: looking up fields and issuers, validating a
licence's data against its type, and LicenceType.create checking a new type's definition.

Plain Python, no I/O. The business licence type mirrors the demo catalogue
(services/licence_store/demo.py) but is built here, so these tests do not move when the demo
data does.
"""

from __future__ import annotations

import pytest

from services.common.identifiers import HolderKind
from services.licence_store.domain.catalogue import FieldSpec, FieldType, LicenceType
from tests.common.identifier_helpers import invalid, only_violation
from tests.licence_store.domain.catalogue_helpers import (
    BAD_CHECK,
    POLICE,
)

NATIONAL_DEFINER = "11100000000013338W"
MARKET = "1135010052601815X2"
CIVIL = "113501009083016632"

F = FieldType

BUSINESS_FIELDS = (
    FieldSpec("legal_representative", "法定代表人", F.STRING, required=True),
    FieldSpec("company_type", "类型", F.STRING, required=True),
    FieldSpec("registered_capital", "注册资本（万元）", F.DECIMAL, required=True),
    FieldSpec("established_on", "成立日期", F.DATE, required=True),
    FieldSpec("address", "住所", F.STRING, required=True),
    FieldSpec("business_scope", "经营范围", F.STRING, required=True, max_length=2000),
    FieldSpec("operating_until", "营业期限至", F.DATE),
    FieldSpec("employees", "从业人数", F.INTEGER),
    FieldSpec("small_business", "小微企业", F.BOOLEAN),
)
BUSINESS = LicenceType(
    type_code=f"{NATIONAL_DEFINER}011",
    name="营业执照",
    holder_kind=HolderKind.ORGANISATION,
    fields=BUSINESS_FIELDS,
    default_validity_days=0,
    issuer_codes=frozenset({MARKET}),
)
REQUIRED_BUSINESS_FIELDS = {
    "legal_representative",
    "company_type",
    "registered_capital",
    "established_on",
    "address",
    "business_scope",
}
GOOD_BUSINESS_DATA = {
    "legal_representative": " 张三 ",
    "company_type": "有限责任公司",
    "registered_capital": "1000.50",
    "established_on": "2015-06-01",
    "address": "福州市鼓楼区五四路1号",
    "business_scope": "软件开发",
}


# --- LicenceType: lookup and validate_data ---------------------------------------------------


def test_definer_code_field_spec_and_may_issue() -> None:
    assert BUSINESS.definer_code == NATIONAL_DEFINER
    assert BUSINESS.field_spec("address") is BUSINESS_FIELDS[4]
    assert BUSINESS.field_spec("nickname") is None
    assert BUSINESS.may_issue(MARKET)
    assert not BUSINESS.may_issue(POLICE)


def test_validate_data_normalises_every_value() -> None:
    data = {**GOOD_BUSINESS_DATA, "employees": "12", "small_business": "TRUE"}
    assert BUSINESS.validate_data(data) == {
        "legal_representative": "张三",
        "company_type": "有限责任公司",
        "registered_capital": "1000.50",
        "established_on": "2015-06-01",
        "address": "福州市鼓楼区五四路1号",
        "business_scope": "软件开发",
        "employees": 12,
        "small_business": True,
    }


def test_validate_data_unknown_field_lists_the_known_fields() -> None:
    error = invalid(BUSINESS.validate_data, {**GOOD_BUSINESS_DATA, "nickname": "x"})
    assert only_violation(error) == ("fields.nickname", "UNKNOWN_FIELD")
    description = error.violations[0].description
    assert "营业执照" in description
    assert all(f.name in description for f in BUSINESS_FIELDS)


def test_validate_data_reports_every_missing_required_field_once() -> None:
    error = invalid(BUSINESS.validate_data, {"address": "福州"})
    assert [v.reason for v in error.violations] == ["REQUIRED"] * 5
    assert {v.field for v in error.violations} == {
        f"fields.{name}" for name in REQUIRED_BUSINESS_FIELDS - {"address"}
    }
    assert error.reason == "INVALID_ARGUMENT"


def test_validate_data_reports_all_kinds_of_problem_together() -> None:
    data = {**GOOD_BUSINESS_DATA, "established_on": "2015-13-01", "nickname": "x"}
    del data["address"]
    error = invalid(BUSINESS.validate_data, data)
    assert {(v.field, v.reason) for v in error.violations} == {
        ("fields.established_on", "DATE_FORMAT"),
        ("fields.nickname", "UNKNOWN_FIELD"),
        ("fields.address", "REQUIRED"),
    }


def test_validate_data_uses_the_prefix_in_paths() -> None:
    error = invalid(BUSINESS.validate_data, {"nickname": "x"}, prefix="licence.data", partial=True)
    assert only_violation(error) == ("licence.data.nickname", "UNKNOWN_FIELD")


def test_validate_data_present_but_empty_required_is_not_reported_twice() -> None:
    error = invalid(BUSINESS.validate_data, {**GOOD_BUSINESS_DATA, "address": "  "})
    assert only_violation(error) == ("fields.address", "REQUIRED")


def test_validate_data_partial_allows_missing_required_fields() -> None:
    assert BUSINESS.validate_data({"employees": "8"}, partial=True) == {"employees": 8}
    assert BUSINESS.validate_data({}, partial=True) == {}


def test_validate_data_partial_empty_optional_means_remove() -> None:
    data = {"operating_until": "  ", "employees": "", "small_business": ""}
    assert BUSINESS.validate_data(data, partial=True) == {
        "operating_until": "",
        "employees": "",
        "small_business": "",
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [("address", "REQUIRED"), ("established_on", None), ("registered_capital", None)],
)
def test_validate_data_partial_empty_required_is_refused(name: str, reason: str | None) -> None:
    error = invalid(BUSINESS.validate_data, {name: ""}, partial=True)
    field, got = only_violation(error)
    assert field == f"fields.{name}"
    if reason is not None:
        assert got == reason


def test_validate_data_does_not_touch_its_input() -> None:
    data = dict(GOOD_BUSINESS_DATA)
    BUSINESS.validate_data(data)
    assert data == GOOD_BUSINESS_DATA


# --- LicenceType.create ----------------------------------------------------------------------


def create_type(**overrides) -> LicenceType:
    arguments = {
        "type_code": f"{NATIONAL_DEFINER}009",
        "name": "居住证",
        "holder_kind": HolderKind.PERSON,
        "fields": [
            FieldSpec("sex", "性别", F.STRING, required=True, max_length=2),
            FieldSpec("endorsed_until", "签注有效期至", F.DATE),
        ],
        "default_validity_days": 365,
        "issuer_codes": [POLICE],
    }
    return LicenceType.create(**{**arguments, **overrides})


def named_fields(*names: str) -> list[FieldSpec]:
    return [FieldSpec(name, "标签", F.STRING) for name in names]


def test_create_normalises_codes_and_keeps_the_schema() -> None:
    created = create_type(
        type_code=f" {NATIONAL_DEFINER.lower()}009 ",
        name=" 居住证 ",
        issuer_codes=[POLICE.lower(), f" {POLICE} ", CIVIL],
    )
    assert created.type_code == f"{NATIONAL_DEFINER}009"
    assert created.name == "居住证"
    assert created.issuer_codes == frozenset({POLICE, CIVIL})
    assert [f.name for f in created.fields] == ["sex", "endorsed_until"]
    assert isinstance(created.fields, tuple)
    assert created.default_validity_days == 365


def test_create_accepts_fields_from_any_iterable() -> None:
    created = create_type(fields=(f for f in named_fields("a", "b")))
    assert [f.name for f in created.fields] == ["a", "b"]


@pytest.mark.parametrize(
    ("type_code", "reason"),
    [
        ("", "REQUIRED"),
        (f"{NATIONAL_DEFINER}09", "LENGTH"),
        (f"{NATIONAL_DEFINER}0A9", "CHARACTER_SET"),
        ("11100000000013338X009", "DEFINER_CODE"),
    ],
)
def test_create_bad_type_code(type_code: str, reason: str) -> None:
    error = invalid(create_type, type_code=type_code)
    assert only_violation(error) == ("licence_type.type_code", reason)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "REQUIRED"), ("证" * 101, "TOO_LONG"), ("居住\x00证", "CHARACTER_SET")],
)
def test_create_bad_name(name: str, reason: str) -> None:
    assert only_violation(invalid(create_type, name=name)) == ("licence_type.name", reason)


def test_create_requires_a_holder_kind() -> None:
    error = invalid(create_type, holder_kind=None)
    assert only_violation(error) == ("licence_type.holder_kind", "REQUIRED")


@pytest.mark.parametrize("name", ["Sex", "1st", "_x", "a-b", "a b", "", "性别", "a" * 65])
def test_create_bad_field_name(name: str) -> None:
    error = invalid(create_type, fields=named_fields("ok", name))
    assert only_violation(error) == ("licence_type.fields[1].name", "FIELD_NAME")


def test_create_field_name_limits() -> None:
    created = create_type(fields=named_fields("a", "a" * 64, "x_1"))
    assert len(created.fields) == 3


def test_create_field_name_with_trailing_newline_is_refused() -> None:
    error = invalid(create_type, fields=named_fields("sex\n"))
    assert only_violation(error) == ("licence_type.fields[0].name", "FIELD_NAME")


def test_create_duplicate_field_name_names_the_second() -> None:
    error = invalid(create_type, fields=named_fields("a", "b", "a"))
    assert only_violation(error) == ("licence_type.fields[2].name", "DUPLICATE")


@pytest.mark.parametrize("label", ["", "   ", "标" * 101])
def test_create_bad_field_label(label: str) -> None:
    error = invalid(create_type, fields=[FieldSpec("a", label, F.STRING)])
    assert only_violation(error) == ("licence_type.fields[0].label", "LABEL")


@pytest.mark.parametrize(("max_length", "ok"), [(0, False), (1, True), (4096, True), (4097, False)])
def test_create_field_max_length_range(max_length: int, ok: bool) -> None:
    fields = [FieldSpec("a", "标签", F.STRING, max_length=max_length)]
    if ok:
        assert create_type(fields=fields).fields[0].max_length == max_length
    else:
        error = invalid(create_type, fields=fields)
        assert only_violation(error) == ("licence_type.fields[0].max_length", "OUT_OF_RANGE")


def test_create_reports_every_field_spec_problem_at_once() -> None:
    fields = [
        FieldSpec("Bad", "标签", F.STRING),
        FieldSpec("a", "", F.STRING),
        FieldSpec("a", "标签", F.STRING, max_length=0),
    ]
    error = invalid(create_type, fields=fields)
    assert [(v.field, v.reason) for v in error.violations] == [
        ("licence_type.fields[0].name", "FIELD_NAME"),
        ("licence_type.fields[1].label", "LABEL"),
        ("licence_type.fields[2].name", "DUPLICATE"),
        ("licence_type.fields[2].max_length", "OUT_OF_RANGE"),
    ]


def test_create_too_many_fields() -> None:
    names = [f"f{i}" for i in range(65)]
    assert len(create_type(fields=named_fields(*names[:64])).fields) == 64
    error = invalid(create_type, fields=named_fields(*names))
    assert only_violation(error) == ("licence_type.fields", "TOO_MANY")


@pytest.mark.parametrize(("days", "ok"), [(-1, False), (0, True), (36_500, True), (36_501, False)])
def test_create_validity_range(days: int, ok: bool) -> None:
    if ok:
        assert create_type(default_validity_days=days).default_validity_days == days
    else:
        error = invalid(create_type, default_validity_days=days)
        assert only_violation(error) == ("licence_type.default_validity_days", "OUT_OF_RANGE")


def test_create_needs_an_issuer() -> None:
    error = invalid(create_type, issuer_codes=[])
    assert only_violation(error) == ("licence_type.issuer_codes", "REQUIRED")


@pytest.mark.parametrize(
    ("code", "reason"),
    [(BAD_CHECK, "CHECK_CHARACTER"), ("1135010013186091", "LENGTH"), ("", "REQUIRED")],
)
def test_create_bad_issuer_code_names_its_index(code: str, reason: str) -> None:
    error = invalid(create_type, issuer_codes=[POLICE, CIVIL, code])
    assert only_violation(error) == ("licence_type.issuer_codes[2]", reason)
