"""Tests of the licence type code (services.common.identifiers) and the e-licence identifier
(services.common.licence_ids: parse, mint, check character) against
/work/shared/reference/identifiers.md.

Check characters needed to build extra valid numbers are computed with the small, independent
reference implementations in identifier_helpers.py (straight from the published weights),
never with the module under test.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import InvalidArgument
from services.common.identifiers import ROOT, validate_licence_type_code
from services.common.licence_ids import (
    LicenceIdentifier,
    licence_identifier_check,
    mint_licence_identifier,
    parse_licence_identifier,
)
from tests.common.identifier_helpers import ALNUM, credit_codes, invalid, ref_mod37_36

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


@settings(deadline=None)
@given(credit_codes, credit_codes, st.text(ALNUM, min_size=1, max_size=32), st.integers(1, 999))
def test_property_mint_parse_round_trip(definer, issuer, serial, version):
    minted = mint_licence_identifier(definer + "007", issuer, serial, version)
    text = str(minted)
    assert text.endswith(ref_mod37_36(definer + "007" + issuer + serial + f"{version:03d}"))
    assert parse_licence_identifier(text) == minted


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
