"""Identifiers of Yihao: citizen ID numbers, unified social credit codes, e-licence identifiers.

The rules and test vectors are in ``/work/shared/reference/identifiers.md``:

* citizen ID number (公民身份号码, GB 11643-1999): 17 digits + ISO 7064 MOD 11-2 check character;
  the legacy 15-digit form is accepted and converted to 18 digits;
* unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters over a 31-letter
  alphabet, MOD 31 check character plus the GB 11714 organisation-code check at position 17;
* licence type codes (the defining department's credit code + 3 digits); e-licence
  identifiers (电子证照标识, GB/T 36904-2018) are :mod:`services.common.licence_ids`.

python-stdnum does the check-digit arithmetic, but not the validation policy: it refuses
citizen ID numbers whose region code was not in use in the birth year and credit codes with a
letter registration authority (A, N, Y), both of which are legitimate. A region code is
therefore never a reason to refuse a number; at most it produces a warning.

Every invalid input raises :class:`~services.common.errors.InvalidArgument` with a stable
``reason`` code and a description naming the broken rule.
"""

from __future__ import annotations

import datetime
import enum
import functools
import string
from dataclasses import dataclass
from typing import Final

from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_11_2

from services.common.errors import FieldViolation, InvalidArgument

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "ROOT",
    "HolderKind",
    "HolderNumber",
    "is_government_department",
    "mask_holder_number",
    "mask_name",
    "parse_citizen_id",
    "parse_credit_code",
    "parse_holder_number",
    "validate_department_code",
    "validate_licence_type_code",
]

#: Fixed root of every e-licence identifier (GB/T 36904-2018).
ROOT: Final = "1.2.156.3005.2"
#: Alphabet of the unified social credit code: no I, O, Z, S, V.
CREDIT_CODE_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"

_DIGITS: Final = string.digits
_ALPHANUMERIC: Final = string.digits + string.ascii_uppercase
_CREDIT_ALPHABET_TEXT: Final = "0-9 A-H J-N P-R T-U W-Y"
_REGISTRATION_AUTHORITIES: Final = "123456789ANY"
_GB11714_WEIGHTS: Final = (3, 7, 9, 10, 5, 8, 4, 2)
_ASCII_UPPER: Final = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_CHINA_TIME: Final = datetime.timezone(datetime.timedelta(hours=8))
_MAX_SERIAL: Final = 32


class HolderKind(enum.Enum):
    """What a holder number identifies: a person or an organisation."""

    __hash__ = object.__hash__  # members are singletons: identity, not name (hot keys)

    PERSON = "person"
    ORGANISATION = "organisation"

    @property
    def code_type(self) -> str:
        """The holder code type of GB/T 36903-2018: ``111`` citizen ID, ``001`` credit code."""
        return "111" if self is HolderKind.PERSON else "001"


@dataclass(frozen=True)
class HolderNumber:
    """A validated holder number in its normalised 18-character form.

    ``warnings`` lists doubts that are never errors, e.g. a region code that stdnum does not
    know to have been in use in the holder's birth year.
    """

    kind: HolderKind
    value: str
    warnings: tuple[str, ...] = ()

    def __copy__(self) -> HolderNumber:
        return self  # immutable (and, compiled, not rebuilt field by field)

    def __deepcopy__(self, memo: dict[int, object]) -> HolderNumber:
        return self


# --- shared helpers -------------------------------------------------------------------------


def _compact(raw: str) -> str:
    """Remove all whitespace (surrounding and inner) and upper-case ASCII letters."""
    return "".join(raw.split()).translate(_ASCII_UPPER)


def _require(text: str, field: str, what: str) -> None:
    """Raise ``REQUIRED`` if ``text`` is empty."""
    if not text:
        raise InvalidArgument.field(field, f"{what} is required", "REQUIRED")


def _check_length(text: str, length: int, field: str, what: str) -> None:
    """Raise ``LENGTH`` unless ``text`` has exactly ``length`` characters."""
    if len(text) != length:
        description = f"{what} must be {length} characters, got {len(text)}"
        raise InvalidArgument.field(field, description, "LENGTH")


def _check_charset(
    text: str, allowed: str, allowed_text: str, field: str, what: str, offset: int = 0
) -> None:
    """Raise ``CHARACTER_SET`` naming the first character of ``text`` not in ``allowed``."""
    if not text.strip(allowed):
        return  # every character is allowed (one C-level pass instead of a Python loop)
    for position, char in enumerate(text, offset + 1):
        if char not in allowed:
            description = (
                f"{what} contains {char!r} at position {position}, "
                f"not in the alphabet {allowed_text}"
            )
            raise InvalidArgument.field(field, description, "CHARACTER_SET")


def _check_character(actual: str, expected: str, field: str, what: str, rule: str) -> None:
    """Raise ``CHECK_CHARACTER`` if ``actual`` differs from the computed ``expected``."""
    if actual != expected:
        description = f"{what} check character is {actual!r}, expected {expected!r} ({rule})"
        raise InvalidArgument.field(field, description, "CHECK_CHARACTER")


# --- citizen ID number (GB 11643-1999) ------------------------------------------------------

_CITIZEN: Final = "citizen ID number"


def _normalise_citizen_id(raw: str) -> str:
    """Remove all whitespace and upper-case a trailing ``x``."""
    text = "".join(raw.split())
    return text[:-1] + "X" if text.endswith("x") else text


def _expand_legacy(number: str, field: str) -> str:
    """Convert a legacy 15-digit number to 18 digits: insert ``19``, append the check."""
    _check_charset(number, _DIGITS, "0-9 (legacy form: 15 digits)", field, _CITIZEN)
    body = number[:6] + "19" + number[6:]
    return body + mod_11_2.calc_check_digit(body)


def _check_citizen_structure(number: str, field: str) -> None:
    """Check length 18, 17 digits + a digit or X, and the ISO 7064 MOD 11-2 check."""
    if len(number) != 18:
        description = (
            f"{_CITIZEN} must be 18 characters (or 15 digits in the legacy form), got {len(number)}"
        )
        raise InvalidArgument.field(field, description, "LENGTH")
    _check_charset(number[:17], _DIGITS, "0-9 (17 digits + check character)", field, _CITIZEN)
    _check_charset(number[17:], _DIGITS + "X", "0-9 X", field, _CITIZEN, offset=17)
    expected = mod_11_2.calc_check_digit(number[:17])
    _check_character(number[17], expected, field, _CITIZEN, "ISO 7064 MOD 11-2")


def _check_birth_date(number: str, field: str, today: datetime.date | None) -> None:
    """Raise ``BIRTH_DATE`` unless positions 7-14 are a real date, not in the future."""
    text = number[6:14]
    try:
        birth = datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        description = f"{_CITIZEN} birth date {text} (positions 7-14) is not a real date"
        raise InvalidArgument.field(field, description, "BIRTH_DATE") from None
    if birth > (today or datetime.datetime.now(_CHINA_TIME).date()):
        description = f"{_CITIZEN} birth date {birth.isoformat()} is in the future"
        raise InvalidArgument.field(field, description, "BIRTH_DATE")


def _region_warnings(number: str) -> tuple[str, ...]:
    """Best-effort warning when stdnum does not know the region in the birth year."""
    return _region_warning(number[:6], number[6:10])


@functools.lru_cache(maxsize=65536)
def _region_warning(region: str, year: str) -> tuple[str, ...]:
    """:func:`_region_warnings` of a region code and birth year, which are all stdnum's
    lookup depends on. Remembered: the lookup searches the region table on every call, and
    cost a bulk import of ID numbers ~40 µs per record."""
    try:
        _ric.get_birth_place(f"{region}{year}0101")
    except (ValidationError, KeyError, ValueError):
        return (
            f"region code {region} is not known to have been in use in birth year "
            f"{year}; accepted, as numbers are assigned at registration and outlive "
            "region changes",
        )
    return ()


def parse_citizen_id(
    raw: str, field: str = "holder_number", *, today: datetime.date | None = None
) -> HolderNumber:
    """Validate a citizen ID number and return it in its 18-character form.

    Whitespace anywhere is removed and a trailing ``x`` upper-cased; the legacy 15-digit form
    is converted. Reasons: ``REQUIRED``, ``LENGTH``, ``CHARACTER_SET``, ``CHECK_CHARACTER``,
    ``BIRTH_DATE`` (``today`` defaults to the current date in China). The region code is
    never a reason to refuse; an unknown one only adds a warning.
    """
    number = _normalise_citizen_id(raw)
    _require(number, field, _CITIZEN)
    if len(number) == 15:
        number = _expand_legacy(number, field)
    else:
        _check_citizen_structure(number, field)
    _check_birth_date(number, field, today)
    return HolderNumber(HolderKind.PERSON, number, _region_warnings(number))


# --- unified social credit code (GB 32100-2015) ---------------------------------------------

_CREDIT: Final = "unified social credit code"


def _gb11714_check(body: str) -> str:
    """GB 11714 organisation-code check character over its 8 leading characters."""
    total = sum(int(char, 36) * weight for char, weight in zip(body, _GB11714_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def _check_authority(code: str, field: str) -> None:
    """Raise ``REGISTRATION_AUTHORITY`` unless position 1 is one of 1-9, A, N, Y."""
    if code[0] not in _REGISTRATION_AUTHORITIES:
        description = (
            f"{_CREDIT} registration authority (position 1) is {code[0]!r}, "
            "expected one of 1-9, A, N, Y"
        )
        raise InvalidArgument.field(field, description, "REGISTRATION_AUTHORITY")


def _check_organisation_code(code: str, field: str) -> None:
    """Raise ``ORGANISATION_CODE_CHECK`` unless position 17 is the GB 11714 check."""
    expected = _gb11714_check(code[8:16])
    if code[16] != expected:
        description = (
            f"{_CREDIT} organisation-code check character (position 17) is {code[16]!r}, "
            f"expected {expected!r} (GB 11714)"
        )
        raise InvalidArgument.field(field, description, "ORGANISATION_CODE_CHECK")


def _check_credit_code(code: str, field: str) -> None:
    """Run every credit-code rule on a compacted code, in the documented order."""
    problem = _credit_code_problem(code)
    if problem is not None:
        raise InvalidArgument.field(field, problem.description, problem.reason)


@functools.lru_cache(maxsize=4096)
def _credit_code_problem(code: str) -> FieldViolation | None:
    """The first rule ``code`` breaks, or None. Remembered: the same few department and
    licence type codes come with every issued licence, and bulk import checks each of them
    several times per record."""
    try:
        _check_credit_code_rules(code, "")
    except InvalidArgument as exc:
        return exc.violations[0]
    return None


def _check_credit_code_rules(code: str, field: str) -> None:
    _require(code, field, _CREDIT)
    _check_length(code, 18, field, _CREDIT)
    _check_charset(code, CREDIT_CODE_ALPHABET, _CREDIT_ALPHABET_TEXT, field, _CREDIT)
    _check_authority(code, field)
    # stdnum's calc_check_digit is plain arithmetic and accepts letter authorities
    # (its validate() does not).
    expected = _uscc.calc_check_digit(code[:17])
    _check_character(code[17], expected, field, _CREDIT, "GB 32100 MOD 31")
    _check_organisation_code(code, field)


def parse_credit_code(raw: str, field: str = "holder_number") -> HolderNumber:
    """Validate a unified social credit code (whitespace removed, upper-cased).

    Reasons: ``REQUIRED``, ``LENGTH``, ``CHARACTER_SET``, ``REGISTRATION_AUTHORITY``,
    ``CHECK_CHARACTER`` (MOD 31), ``ORGANISATION_CODE_CHECK`` (GB 11714).
    """
    code = _compact(raw)
    _check_credit_code(code, field)
    return HolderNumber(HolderKind.ORGANISATION, code)


def _is_valid_credit_code(code: str) -> bool:
    """True if ``code`` passes every credit-code rule."""
    try:
        _check_credit_code(_compact(code), "code")
    except InvalidArgument:
        return False
    return True


def is_government_department(code: str) -> bool:
    """True if ``code`` is a valid credit code of a government body (it starts with ``11``)."""
    return _compact(code).startswith("11") and _is_valid_credit_code(code)


@functools.lru_cache(maxsize=1024)  # a handful of departments, on every call
def validate_department_code(raw: str, field: str = "department") -> str:
    """Validate a department's unified social credit code and return it normalised."""
    return parse_credit_code(raw, field).value


# --- holder number: either kind -------------------------------------------------------------


def _looks_like_citizen_id(text: str) -> bool:
    """True for digits with an optional trailing X: the shape of a citizen ID number."""
    if not text:
        return False
    return all(char in _DIGITS for char in text[:-1]) and text[-1] in _DIGITS + "X"


def parse_holder_number(
    raw: str,
    field: str = "holder_number",
    kind: HolderKind | None = None,
    *,
    today: datetime.date | None = None,
) -> HolderNumber:
    """Validate a holder number of the given ``kind``, or detect the kind.

    Detection: digits with an optional trailing X are tried as a citizen ID number first,
    then (18 characters only) as a credit code; if both fail the citizen-ID error is raised.
    Anything else is parsed as a credit code. Empty input: reason ``REQUIRED``.
    """
    if kind is not None:
        if kind is HolderKind.PERSON:
            return parse_citizen_id(raw, field, today=today)
        return parse_credit_code(raw, field)
    text = _compact(raw)
    _require(text, field, "holder number")
    if not _looks_like_citizen_id(text):
        return parse_credit_code(text, field)
    try:
        return parse_citizen_id(text, field, today=today)
    except InvalidArgument:
        if len(text) == 18 and _is_valid_credit_code(text):
            return parse_credit_code(text, field)
        raise


# --- licence type code ----------------------------------------------------------------------


def _check_type_code_structure(code: str, field: str, what: str) -> None:
    """Length 21, credit-code alphabet for positions 1-18, digits for 19-21."""
    _check_length(code, 21, field, f"{what} (18-character credit code + 3 digits)")
    _check_charset(code[:18], CREDIT_CODE_ALPHABET, _CREDIT_ALPHABET_TEXT, field, what)
    _check_charset(code[18:], _DIGITS, "0-9 (3-digit sequence)", field, what, offset=18)


@functools.lru_cache(maxsize=1024)  # a few hundred types, on every issued licence
def validate_licence_type_code(raw: str, field: str = "type_code") -> str:
    """Validate a licence type code: the definer's credit code + a 3-digit sequence.

    Reasons: ``REQUIRED``, ``LENGTH``, ``CHARACTER_SET``, ``DEFINER_CODE`` (positions 1-18
    are not a valid credit code; the description says which rule failed).
    """
    code = _compact(raw)
    what = "licence type code"
    _require(code, field, what)
    _check_type_code_structure(code, field, what)
    try:
        _check_credit_code(code[:18], field)
    except InvalidArgument as exc:
        inner = "; ".join(v.description for v in exc.violations)
        description = f"{what}: the defining department's code (positions 1-18) is invalid: {inner}"
        raise InvalidArgument.field(field, description, "DEFINER_CODE") from exc
    return code


# --- masking --------------------------------------------------------------------------------


def _is_public_code(text: str) -> bool:
    """True if ``text`` is detected as a valid credit code (public) rather than a person's."""
    try:
        return parse_holder_number(text).kind is HolderKind.ORGANISATION
    except InvalidArgument:
        return False


def mask_holder_number(value: str, kind: HolderKind | None = None) -> str:
    """Mask a citizen ID number as first 6 + ``********`` + last 4; credit codes unchanged.

    Without ``kind`` the kind is detected; anything that is not a valid credit code is
    masked (when in doubt, hide). Values of 10 characters or fewer are masked entirely.
    """
    if kind is HolderKind.ORGANISATION or (kind is None and _is_public_code(value)):
        return value
    text = _compact(value)
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * 8 + text[-4:]


def mask_name(name: str) -> str:
    """Keep the first character of a name and mask the rest: ``张三`` -> ``张*``."""
    text = name.strip()
    if len(text) <= 1:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 1)
