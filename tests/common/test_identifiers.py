"""Tests of services.common.identifiers against /work/shared/reference/identifiers.md.

Check characters needed to build extra valid numbers are computed with the small, independent
reference implementations below (straight from the published weights), never with the module
under test.
"""

from __future__ import annotations

import datetime
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from services.common.errors import InvalidArgument
from services.common.identifiers import (
    ROOT,
    HolderKind,
    HolderNumber,
    is_government_department,
    mask_holder_number,
    mask_name,
    parse_citizen_id,
    parse_credit_code,
    parse_holder_number,
    validate_department_code,
    validate_licence_type_code,
)
from services.common.licence_ids import (
    LicenceIdentifier,
    licence_identifier_check,
    mint_licence_identifier,
    parse_licence_identifier,
)

# --- independent reference implementations ---------------------------------------------------

CITIZEN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ALNUM = string.digits + string.ascii_uppercase
TODAY = datetime.date(2025, 6, 1)


def ref_citizen_check(body: str) -> str:
    total = sum(int(d) * w for d, w in zip(body, CITIZEN_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def ref_mod31(body: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def ref_gb11714(body: str) -> str:
    total = sum(ALNUM.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def ref_credit_code(prefix: str, organisation: str) -> str:
    """prefix: positions 1-8; organisation: positions 9-16 (check 17 and 18 are computed)."""
    body = prefix + organisation + ref_gb11714(organisation)
    return body + ref_mod31(body)


def ref_mod37_36(payload: str) -> str:
    product = 36
    for char in payload:
        total = (product + ALNUM.index(char)) % 36 or 36
        product = total * 2 % 37
    return ALNUM[(1 - product) % 36]


def invalid(fn, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        fn(*args, **kwargs)
    return info.value


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


# --- licence type code --------------------------------------------------------------------------


def test_licence_type_code_valid():
    assert validate_licence_type_code(" 11100000000013338w032 ") == "11100000000013338W032"


@pytest.mark.parametrize(
    ("raw", "reason", "says"),
    [
        ("", "REQUIRED", "required"),
        ("11100000000013338W03", "LENGTH", "21"),
        ("11100000000013338W03A", "CHARACTER_SET", "position 21"),
        ("1110000000001333IW032", "CHARACTER_SET", "position 17"),
        ("11100000000013338X032", "DEFINER_CODE", "expected 'W'"),
        ("91110000600037342P001", "DEFINER_CODE", "GB 11714"),
    ],
)
def test_licence_type_code_invalid(raw, reason, says):
    error = invalid(validate_licence_type_code, raw)
    assert error.reason == reason
    assert says in error.message
    assert error.violations[0].field == "type_code"


# --- e-licence identifier -----------------------------------------------------------------------

LICENCE_VALID = [
    "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F",
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
]
LICENCE_INVALID = (
    "1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
)


@pytest.mark.parametrize("raw", LICENCE_VALID)
def test_licence_identifier_valid(raw):
    identifier = parse_licence_identifier(raw)
    assert str(identifier) == raw
    type_code, issuer, serial, version, check = raw[len(ROOT) + 1 :].split(".")
    assert identifier == LicenceIdentifier(type_code, issuer, serial, int(version))
    assert identifier.check == check
    assert licence_identifier_check(type_code, issuer, serial, int(version)) == check
    assert ref_mod37_36(type_code + issuer + serial + version) == check


def test_licence_identifier_invalid_reference_vector():
    error = invalid(parse_licence_identifier, LICENCE_INVALID)
    assert error.reason == "CHECK_CHARACTER"
    assert "expected 'D'" in error.message
    assert error.violations[0].field == "licence_id"
    assert parse_licence_identifier(LICENCE_INVALID[:-1] + "D").check == "D"


def test_licence_identifier_normalisation():
    raw = "  " + LICENCE_VALID[1].lower() + "\n"
    assert str(parse_licence_identifier(raw)) == LICENCE_VALID[1]


def _licence(
    type_code="11100000000013338W032",
    issuer="11220000013544541J",
    serial="2430599",
    version="001",
    check="F",
    root=ROOT,
):
    return ".".join([root, type_code, issuer, serial, version, check])


@pytest.mark.parametrize(
    ("raw", "reason", "says"),
    [
        ("", "REQUIRED", "required"),
        (_licence(root="1.2.156.3005.3"), "FORMAT", ROOT),
        (_licence()[:-2], "FORMAT", "got 4"),
        (_licence() + ".X", "FORMAT", "got 6"),
        (_licence(type_code="11100000000013338W32"), "LENGTH", "type code"),
        (_licence(type_code="11100000000013338W0A2"), "CHARACTER_SET", "position 20"),
        (_licence(issuer="11220000013544541"), "LENGTH", "issuer code"),
        (_licence(issuer="1122000001354454IJ"), "CHARACTER_SET", "'I' at position 17"),
        (_licence(serial=""), "LENGTH", "serial"),
        (_licence(serial="A" * 33), "LENGTH", "serial"),
        (_licence(serial="243-0599"), "CHARACTER_SET", "'-' at position 4"),
        (_licence(version="000"), "VERSION", "001 to 999"),
        (_licence(version="01"), "VERSION", "001 to 999"),
        (_licence(version="1000"), "VERSION", "001 to 999"),
        (_licence(version="0A1"), "VERSION", "001 to 999"),
        (_licence(check="FF"), "LENGTH", "check"),
        (_licence(check="-"), "CHARACTER_SET", "check"),
        (_licence(check="G"), "CHECK_CHARACTER", "expected 'F'"),
    ],
)
def test_licence_identifier_invalid(raw, reason, says):
    error = invalid(parse_licence_identifier, raw)
    assert error.reason == reason
    assert says in error.message


def test_mint_then_parse_round_trip():
    minted = mint_licence_identifier("11100000000013338W032", "11220000013544541J", "2430599", 1)
    assert str(minted) == LICENCE_VALID[0]
    assert parse_licence_identifier(str(minted)) == minted


def test_mint_normalises_serial_and_codes():
    minted = mint_licence_identifier("11100000000013338w009", " 11330105002500287c", "abc123", 12)
    assert minted.serial == "ABC123"
    assert minted.type_code == "11100000000013338W009"
    assert minted.issuer_code == "11330105002500287C"
    assert str(minted).split(".")[-2] == "012"


@pytest.mark.parametrize(
    ("args", "field", "reason"),
    [
        (("11100000000013338W03", "11220000013544541J", "1", 1), "type_code", "LENGTH"),
        (("11100000000013338W032", "11220000013544541K", "1", 1), "issuer_code", "CHECK_CHARACTER"),
        (("11100000000013338W032", "11220000013544541J", "", 1), "serial", "LENGTH"),
        (("11100000000013338W032", "11220000013544541J", "X" * 33, 1), "serial", "LENGTH"),
        (("11100000000013338W032", "11220000013544541J", "A_1", 1), "serial", "CHARACTER_SET"),
        (("11100000000013338W032", "11220000013544541J", "1", 0), "version", "VERSION"),
        (("11100000000013338W032", "11220000013544541J", "1", 1000), "version", "VERSION"),
    ],
)
def test_mint_validates(args, field, reason):
    error = invalid(mint_licence_identifier, *args)
    assert error.reason == reason
    assert error.violations[0].field == field


def test_licence_identifier_check_refuses_bad_input():
    assert invalid(licence_identifier_check, "a", "b", "c", 1).reason == "CHARACTER_SET"
    assert invalid(licence_identifier_check, "A", "B", "C", 0).reason == "VERSION"


# --- property tests -----------------------------------------------------------------------------

citizen_bodies = st.builds(
    lambda region, born, sequence: f"{region:06d}{born:%Y%m%d}{sequence:03d}",
    st.integers(0, 999_999),
    st.dates(datetime.date(1900, 1, 1), TODAY),
    st.integers(0, 999),
)
credit_codes = st.builds(
    lambda authority, kind, region, organisation: ref_credit_code(
        f"{authority}{kind}{region:06d}", organisation
    ),
    st.sampled_from("123456789ANY"),
    st.sampled_from("1239"),
    st.integers(0, 999_999),
    st.text(CREDIT_ALPHABET, min_size=8, max_size=8),
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


@settings(deadline=None)
@given(credit_codes, credit_codes, st.text(ALNUM, min_size=1, max_size=32), st.integers(1, 999))
def test_property_mint_parse_round_trip(definer, issuer, serial, version):
    minted = mint_licence_identifier(definer + "007", issuer, serial, version)
    text = str(minted)
    assert text.endswith(ref_mod37_36(definer + "007" + issuer + serial + f"{version:03d}"))
    assert parse_licence_identifier(text) == minted


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


_ALNUM = string.digits + string.ascii_uppercase


@settings(max_examples=300)
@given(
    type_code=st.text(_ALNUM, min_size=1, max_size=24),
    issuer=st.text(_ALNUM, min_size=1, max_size=18),
    serial=st.text(_ALNUM, min_size=1, max_size=32),
    version=st.integers(1, 999),
)
def test_licence_identifier_check_is_stdnum_mod_37_36(type_code, issuer, serial, version):
    from stdnum.iso7064 import mod_37_36

    expected = mod_37_36.calc_check_digit(f"{type_code}{issuer}{serial}{version:03d}")
    assert licence_identifier_check(type_code, issuer, serial, version) == expected


def test_licence_identifier_check_still_names_a_bad_character():
    with pytest.raises(InvalidArgument) as caught:
        licence_identifier_check("AB", "CD", "E-F", 1)
    assert caught.value.violations[0].reason == "CHARACTER_SET"
    assert "'-' at position 6" in caught.value.violations[0].description
