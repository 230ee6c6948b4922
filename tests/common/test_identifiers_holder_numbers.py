"""Tests of the holder numbers in services.common.identifiers against
/work/shared/reference/identifiers.md: citizen ID numbers, unified social credit codes, telling
one from the other, and masking them (and names).

Check characters needed to build extra valid numbers are computed with the small, independent
reference implementations in identifier_helpers.py (straight from the published weights),
never with the module under test.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from services.common.errors import InvalidArgument
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    is_government_department,
    mask_holder_number,
    mask_name,
    parse_citizen_id,
    parse_credit_code,
    parse_holder_number,
    validate_department_code,
)
from tests.common.identifier_helpers import (
    ALNUM,
    credit_codes,
    invalid,
    ref_citizen_check,
    ref_credit_code,
    ref_mod37_36,
)

TODAY = datetime.date(2025, 6, 1)


def test_reference_implementations_agree_with_reference_vectors():
    assert ref_citizen_check("11010519491231002") == "X"
    assert ref_credit_code("91110000", "60003734") == "91110000600037341L"
    assert ref_credit_code("91350100", "M000100Y") == "91350100M000100Y43"
    assert ref_mod37_36("11100000000013338W03211220000013544541J2430599001") == "F"


# --- citizen ID number -------------------------------------------------------------------------

CITIZEN_VALID = [
    "11010519491231002X",
    "360426199101010071",
    "320106198707105231",
    "51010719990228004X",
]

CITIZEN_INVALID = [
    ("110105194912310021", "CHECK_CHARACTER", "expected 'X'"),
    ("110105194902300020", "BIRTH_DATE", "not a real date"),
    ("1101051949123100AX", "CHARACTER_SET", "'A' at position 17"),
    ("11010519491231002", "LENGTH", "got 17"),
]


@pytest.mark.parametrize("number", CITIZEN_VALID)
def test_citizen_id_valid(number):
    holder = parse_citizen_id(number)
    assert holder == HolderNumber(HolderKind.PERSON, number)
    assert parse_holder_number(number) == holder


@pytest.mark.parametrize(("number", "reason", "says"), CITIZEN_INVALID)
def test_citizen_id_invalid(number, reason, says):
    error = invalid(parse_citizen_id, number)
    assert error.reason == reason
    assert says in error.message
    assert error.violations[0].field == "holder_number"
    assert error.violations[0].reason == reason


@pytest.mark.parametrize(("number", "reason", "says"), CITIZEN_INVALID)
def test_citizen_id_invalid_detected(number, reason, says):
    error = invalid(parse_holder_number, number)
    if number.isdigit() or number[:-1].isdigit():
        assert (error.reason, says in error.message) == (reason, True)
    else:  # a letter other than a trailing X: detected as a (bad) credit code, as specified
        assert "unified social credit code" in error.message


def test_citizen_id_custom_field_name():
    error = invalid(parse_citizen_id, "110105194912310021", field="applicant.id_number")
    assert error.violations[0].field == "applicant.id_number"
    assert "ISO 7064 MOD 11-2" in error.violations[0].description


def test_legacy_15_digit_form_is_converted():
    holder = parse_citizen_id("110105491231002")
    assert holder.value == "11010519491231002X"
    assert parse_holder_number("110105491231002").value == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [("11010549123100A", "CHARACTER_SET"), ("110105490230002", "BIRTH_DATE")],
)
def test_legacy_15_digit_form_invalid(number, reason):
    assert invalid(parse_citizen_id, number).reason == reason


@pytest.mark.parametrize(
    "raw",
    [
        " 11010519491231002x ",
        "110105 19491231 002X",
        "\t110105 19491231 002x\n",
        "110105\u300019491231002X",
    ],
)
def test_citizen_id_whitespace_and_lowercase_x(raw):
    assert parse_citizen_id(raw).value == "11010519491231002X"
    assert parse_holder_number(raw).value == "11010519491231002X"


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_citizen_id_required(raw):
    assert invalid(parse_citizen_id, raw).reason == "REQUIRED"


def test_chaoyang_county_number_is_accepted_though_stdnum_refuses_it():
    body = "440524" + "19500101" + "003"
    number = body + ref_citizen_check(body)
    assert not ric.is_valid(number)
    with pytest.raises(ric.InvalidComponent):
        ric.validate(number)
    holder = parse_citizen_id(number)
    assert holder.kind is HolderKind.PERSON
    assert holder.value == number
    assert len(holder.warnings) == 1
    assert "440524" in holder.warnings[0]


def test_unknown_region_is_a_warning_never_an_error():
    body = "999999" + "19800101" + "001"
    holder = parse_citizen_id(body + ref_citizen_check(body))
    assert holder.warnings and "999999" in holder.warnings[0]


def test_known_region_has_no_warning():
    assert parse_citizen_id("11010519491231002X").warnings == ()


def test_birth_date_in_the_future_is_refused():
    body = "110105" + "20300101" + "001"
    number = body + ref_citizen_check(body)
    error = invalid(parse_citizen_id, number, today=TODAY)
    assert error.reason == "BIRTH_DATE"
    assert "future" in error.message
    assert parse_citizen_id(number, today=datetime.date(2030, 1, 1)).value == number
    assert invalid(parse_holder_number, number, today=TODAY).reason == "BIRTH_DATE"


def test_check_character_is_reported_before_birth_date():
    assert invalid(parse_citizen_id, "110105194902300021").reason == "CHECK_CHARACTER"


# --- unified social credit code ----------------------------------------------------------------

CREDIT_VALID = [
    "91110000600037341L",
    "914403001922038216",
    "91350100M000100Y43",
    "9135052155323005XL",
]
GOVERNMENT = [
    "11100000000013338W",
    "11220000013544541J",
    "11430000006122244L",
    "11330105002500287C",
]

CREDIT_INVALID = [
    ("91110000600037341M", "CHECK_CHARACTER", "expected 'L'"),
    ("9111000060003734IL", "CHARACTER_SET", "'I' at position 17"),
    ("91110000600037342P", "ORGANISATION_CODE_CHECK", "expected '1'"),
]


@pytest.mark.parametrize("code", CREDIT_VALID + GOVERNMENT)
def test_credit_code_valid(code):
    holder = parse_credit_code(code)
    assert holder == HolderNumber(HolderKind.ORGANISATION, code)
    assert parse_holder_number(code) == holder
    assert validate_department_code(code) == code


@pytest.mark.parametrize(("code", "reason", "says"), CREDIT_INVALID)
def test_credit_code_invalid(code, reason, says):
    for parse in (parse_credit_code, parse_holder_number, validate_department_code):
        error = invalid(parse, code)
        assert error.reason == reason
        assert says in error.message


def test_credit_code_character_set_message_names_the_alphabet():
    error = invalid(parse_credit_code, "9111000060003734IL")
    assert "0-9 A-H J-N P-R T-U W-Y" in error.message


@pytest.mark.parametrize("authority", ["A", "N", "Y"])
def test_letter_registration_authorities_are_accepted(authority):
    code = ref_credit_code(authority + "1110000", "MA01XY2K")
    assert not uscc.is_valid(code)  # the library pitfall this module works around
    assert parse_credit_code(code).value == code
    assert parse_holder_number(code).kind is HolderKind.ORGANISATION


@pytest.mark.parametrize("authority", ["0", "B", "X"])
def test_unknown_registration_authority_is_refused(authority):
    code = ref_credit_code(authority + "1110000", "60003734")
    error = invalid(parse_credit_code, code)
    assert error.reason == "REGISTRATION_AUTHORITY"
    assert "1-9, A, N, Y" in error.message


@pytest.mark.parametrize(
    "raw", [" 91110000600037341l ", "9111 0000 6000 3734 1L", "91110000600037341L\n"]
)
def test_credit_code_whitespace_and_case(raw):
    assert parse_credit_code(raw).value == "91110000600037341L"
    assert parse_holder_number(raw).value == "91110000600037341L"


@pytest.mark.parametrize(("raw", "reason"), [("", "REQUIRED"), ("9111000060003734", "LENGTH")])
def test_credit_code_required_and_length(raw, reason):
    assert invalid(parse_credit_code, raw).reason == reason


def test_government_department():
    for code in GOVERNMENT:
        assert is_government_department(code)
    for code in [*CREDIT_VALID, "11100000000013338X", "", "11"]:
        assert not is_government_department(code)


# --- holder number detection -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "  "])
def test_holder_number_required(raw):
    assert invalid(parse_holder_number, raw).reason == "REQUIRED"


def test_all_digit_credit_code_is_detected_as_organisation():
    assert parse_holder_number("914403001922038216").kind is HolderKind.ORGANISATION


def test_all_digit_string_failing_both_reports_the_citizen_error():
    error = invalid(parse_holder_number, "914403001922038217")
    assert error.reason == "CHECK_CHARACTER"
    assert "citizen ID number" in error.message
    assert "MOD 11-2" in error.message


def test_string_with_letters_reports_the_credit_code_error():
    error = invalid(parse_holder_number, "91110000600037341M")
    assert "unified social credit code" in error.message


def test_holder_number_with_explicit_kind():
    assert parse_holder_number("110105491231002", kind=HolderKind.PERSON).value == (
        "11010519491231002X"
    )
    org = parse_holder_number("914403001922038216", kind=HolderKind.ORGANISATION)
    assert org.kind is HolderKind.ORGANISATION
    assert invalid(parse_holder_number, "91110000600037341L", kind=HolderKind.PERSON).reason == (
        "CHARACTER_SET"
    )
    error = invalid(parse_holder_number, "11010519491231002X", kind=HolderKind.ORGANISATION)
    assert error.reason == "CHECK_CHARACTER"


def test_holder_code_types():
    assert HolderKind.PERSON.code_type == "111"
    assert HolderKind.ORGANISATION.code_type == "001"


# --- property tests -----------------------------------------------------------------------------

citizen_bodies = st.builds(
    lambda region, born, sequence: f"{region:06d}{born:%Y%m%d}{sequence:03d}",
    st.integers(0, 999_999),
    st.dates(datetime.date(1900, 1, 1), TODAY),
    st.integers(0, 999),
)


replacements = st.sampled_from(ALNUM + "x*-")


@settings(deadline=None)
@given(citizen_bodies)
def test_property_valid_citizen_id_parses(body):
    number = body + ref_citizen_check(body)
    assert parse_citizen_id(number, today=TODAY).value == number


@settings(deadline=None)
@given(citizen_bodies, st.integers(0, 17), replacements)
def test_property_single_change_of_citizen_id_is_refused(body, position, char):
    number = body + ref_citizen_check(body)
    if number[position] == char or (position == 17 and number[17] == char.upper()):
        char = "*"
    changed = number[:position] + char + number[position + 1 :]
    with pytest.raises(InvalidArgument):
        parse_citizen_id(changed, today=TODAY)


@settings(deadline=None)
@given(credit_codes)
def test_property_valid_credit_code_parses(code):
    assert parse_credit_code(code).value == code


@settings(deadline=None)
@given(credit_codes, st.integers(0, 17), replacements)
def test_property_single_change_of_credit_code_is_refused(code, position, char):
    if code[position] == char.upper():
        char = "*"
    changed = code[:position] + char + code[position + 1 :]
    with pytest.raises(InvalidArgument):
        parse_credit_code(changed)


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("11010519491231002X", "110105********002X"),
        ("360426199101010071", "360426********0071"),
        ("110105194912310021", "110105********0021"),  # invalid: when in doubt, hide
        ("91110000600037341L", "91110000600037341L"),
        ("914403001922038216", "914403001922038216"),
        ("91350100M000100Y43", "91350100M000100Y43"),
        ("", ""),
        ("12345", "*****"),
    ],
)
def test_mask_holder_number(value, masked):
    assert mask_holder_number(value) == masked


def test_mask_holder_number_with_kind():
    assert mask_holder_number("914403001922038216", HolderKind.PERSON) == "914403********8216"
    assert mask_holder_number("11010519491231002X", HolderKind.ORGANISATION) == (
        "11010519491231002X"
    )


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧***"), ("", ""), ("李", "*"), (" 王五 ", "王*")],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked
