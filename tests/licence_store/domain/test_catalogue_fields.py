"""Unit tests of the licence catalogue's field values: FieldSpec.normalise for each field
type, and check_text, the character check behind every text.

Plain Python, no I/O.
"""

from __future__ import annotations

import sys
import unicodedata

import pytest

from services.common.errors import InvalidArgument
from services.licence_store.domain.catalogue import FieldSpec, FieldType, check_text
from tests.common.identifier_helpers import invalid, only_violation

F = FieldType


def spec(kind: FieldType, **kwargs) -> FieldSpec:
    return FieldSpec("value", "值", kind, **kwargs)


# --- FieldSpec.normalise ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (F.STRING, "  福州市鼓楼区 ", "福州市鼓楼区"),
        (F.STRING, "a b", "a b"),
        (F.DATE, "2024-02-29", "2024-02-29"),
        (F.DATE, " 2015-06-01\t", "2015-06-01"),
        (F.INTEGER, "42", 42),
        (F.INTEGER, "-17", -17),
        (F.INTEGER, "007", 7),
        (F.INTEGER, "-0", 0),
        (F.INTEGER, " 9007199254740991 ", 9_007_199_254_740_991),
        (F.STRING, "line one\nline two", "line one\nline two"),
        (F.DECIMAL, "1000.50", "1000.50"),
        (F.DECIMAL, "-3", "-3"),
        (F.DECIMAL, "-0.25", "-0.25"),
        (F.DECIMAL, " 0.000001 ", "0.000001"),
        (F.DECIMAL, "0012.5", "12.5"),
        (F.BOOLEAN, "true", True),
        (F.BOOLEAN, "false", False),
        (F.BOOLEAN, "TRUE", True),
        (F.BOOLEAN, " FaLsE ", False),
    ],
)
def test_normalise_good_values(kind: FieldType, raw: str, expected: object) -> None:
    value = spec(kind).normalise(raw, "fields.value")
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "raw", "reason"),
    [
        (F.DATE, "2024-02-30", "DATE_FORMAT"),
        (F.DATE, "2023-02-29", "DATE_FORMAT"),
        (F.DATE, "2024/01/01", "DATE_FORMAT"),
        (F.DATE, "20240101", "DATE_FORMAT"),
        (F.DATE, "2024-1-1", "DATE_FORMAT"),
        (F.DATE, "2024-01-01T00:00", "DATE_FORMAT"),
        (F.DATE, "", "DATE_FORMAT"),
        (F.INTEGER, "4.2", "INTEGER_FORMAT"),
        (F.INTEGER, "1e3", "INTEGER_FORMAT"),
        (F.INTEGER, "+5", "INTEGER_FORMAT"),
        (F.INTEGER, "1 000", "INTEGER_FORMAT"),
        (F.INTEGER, "1" * 19, "INTEGER_FORMAT"),
        (F.INTEGER, "１２", "INTEGER_FORMAT"),
        (F.INTEGER, "", "INTEGER_FORMAT"),
        (F.DECIMAL, "1,000.50", "DECIMAL_FORMAT"),
        (F.DECIMAL, "1e3", "DECIMAL_FORMAT"),
        (F.DECIMAL, ".5", "DECIMAL_FORMAT"),
        (F.DECIMAL, "1.", "DECIMAL_FORMAT"),
        (F.DECIMAL, "NaN", "DECIMAL_FORMAT"),
        (F.DECIMAL, "Infinity", "DECIMAL_FORMAT"),
        (F.DECIMAL, "0." + "1" * 11, "DECIMAL_FORMAT"),
        (F.DECIMAL, "", "DECIMAL_FORMAT"),
        (F.BOOLEAN, "yes", "BOOLEAN_FORMAT"),
        (F.BOOLEAN, "1", "BOOLEAN_FORMAT"),
        (F.BOOLEAN, "t", "BOOLEAN_FORMAT"),
        (F.BOOLEAN, "", "BOOLEAN_FORMAT"),
        (F.STRING, "", "REQUIRED"),
        (F.STRING, " \t ", "REQUIRED"),
        (F.STRING, "a\x00b", "CHARACTER_SET"),
        (F.STRING, "bell \x07 here", "CHARACTER_SET"),
        (F.INTEGER, "9007199254740992", "OUT_OF_RANGE"),
        (F.STRING, "a\x7fb", "CHARACTER_SET"),
    ],
)
def test_normalise_bad_values_name_the_field_and_rule(
    kind: FieldType, raw: str, reason: str
) -> None:
    error = invalid(spec(kind).normalise, raw, "fields.established_on")
    assert only_violation(error) == ("fields.established_on", reason)


def test_normalise_bad_value_description_quotes_the_value() -> None:
    error = invalid(spec(F.DATE).normalise, "2024/01/01", "fields.established_on")
    assert "'2024/01/01'" in error.violations[0].description
    assert "YYYY-MM-DD" in error.violations[0].description


def test_normalise_string_length_is_counted_after_stripping() -> None:
    short = spec(F.STRING, max_length=3)
    assert short.normalise("  abc  ", "fields.code") == "abc"
    error = invalid(short.normalise, "abcd", "fields.code")
    assert only_violation(error) == ("fields.code", "TOO_LONG")
    assert "4 characters" in error.violations[0].description


def test_normalise_string_max_length_counts_characters_not_bytes() -> None:
    assert spec(F.STRING, max_length=2).normalise("张三", "fields.name") == "张三"


@pytest.mark.parametrize("raw", ["2024-W01-1", "20240101T0"])
def test_normalise_date_accepts_only_yyyy_mm_dd(raw: str) -> None:
    error = invalid(spec(F.DATE).normalise, raw, "fields.established_on")
    assert only_violation(error) == ("fields.established_on", "DATE_FORMAT")


@pytest.mark.parametrize("raw", ["0.0000001", "-0.0000000005"])
def test_normalise_decimal_stays_plain_and_idempotent(raw: str) -> None:
    decimal = spec(F.DECIMAL)
    value = decimal.normalise(raw, "fields.registered_capital")
    assert value == raw
    assert decimal.normalise(str(value), "fields.registered_capital") == value


def test_field_type_values() -> None:
    assert {t.value for t in FieldType} == {"string", "date", "integer", "decimal", "boolean"}


# --- check_text ------------------------------------------------------------------------------


def test_check_text_skips_only_what_cannot_hold_a_forbidden_character() -> None:
    # check_text looks at characters one by one only when str.isprintable() is False: that
    # is safe while no control, surrogate, private-use or unassigned code point is printable.
    forbidden = ("Cc", "Cs", "Co", "Cn")
    printable_yet_forbidden = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in forbidden and chr(cp).isprintable()
    ]
    assert printable_yet_forbidden == []


@pytest.mark.parametrize("bad", ["\x07", "\ud800", "\ue000", "\U000e0080", "\x85"])
def test_check_text_refuses_a_forbidden_character_among_good_ones(bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_text(f"福州示例 {bad} 企业", "holder.name", 200)
    assert caught.value.violations[0].reason == "CHARACTER_SET"
    assert f"U+{ord(bad):04X}" in caught.value.violations[0].description


def test_check_text_keeps_line_breaks_and_wide_spaces_where_allowed() -> None:
    assert check_text(" 软件开发；\n信息技术\t咨询　服务 ", "f", 50, multiline=True) == (
        "软件开发；\n信息技术\t咨询　服务"
    )
    assert check_text("福州　示例", "holder.name", 50) == "福州　示例"
    with pytest.raises(InvalidArgument):
        check_text("two\nlines", "holder.name", 50)
