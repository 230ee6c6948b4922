"""E-licence identifiers (电子证照标识, GB/T 36904-2018): parsing, checking and minting.

``1.2.156.3005.2.<type code>.<issuer code>.<serial>.<version>.<check>`` with an ISO 7064
MOD 37,36 check character (python-stdnum does the arithmetic; the state after a
department's type and issuer codes is remembered, so a new serial costs its own characters
only). Every invalid input raises :class:`~services.common.errors.InvalidArgument` with a
stable ``reason`` and a description naming the broken rule. Holder numbers and licence type
codes are :mod:`services.common.identifiers`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from stdnum.iso7064 import mod_37_36

from services.common.errors import InvalidArgument
from services.common.identifiers import (
    _ALPHANUMERIC,
    _CREDIT_ALPHABET_TEXT,
    _DIGITS,
    _MAX_SERIAL,
    CREDIT_CODE_ALPHABET,
    ROOT,
    _check_character,
    _check_charset,
    _check_length,
    _check_type_code_structure,
    _compact,
    _require,
    validate_department_code,
    validate_licence_type_code,
)

# --- e-licence identifier (GB/T 36904-2018) -------------------------------------------------

_LICENCE: Final = "e-licence identifier"


def _check_serial(serial: str, field: str, what: str = "serial") -> None:
    """Raise ``LENGTH`` / ``CHARACTER_SET`` unless ``serial`` is 1-32 of 0-9 A-Z."""
    if not 1 <= len(serial) <= _MAX_SERIAL:
        description = f"{what} must be 1 to {_MAX_SERIAL} characters, got {len(serial)}"
        raise InvalidArgument.field(field, description, "LENGTH")
    _check_charset(serial, _ALPHANUMERIC, "0-9 A-Z", field, what)


def _check_version(version: int, field: str) -> int:
    """Raise ``VERSION`` unless ``version`` is an integer from 1 to 999."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999:
        description = f"version must be an integer from 1 to 999, got {version!r}"
        raise InvalidArgument.field(field, description, "VERSION")
    return version


@functools.lru_cache(maxsize=65536)
def licence_identifier_check(type_code: str, issuer_code: str, serial: str, version: int) -> str:
    """The ISO 7064 MOD 37,36 check character over type code + issuer + serial + version.

    The parts must already be normalised (upper case); characters outside 0-9 A-Z or a
    version outside 1-999 raise ``InvalidArgument`` (field ``licence_id``).
    """
    _check_version(version, "licence_id")
    prefix = f"{type_code}{issuer_code}"
    payload = f"{prefix}{serial}{version:03d}"
    _check_charset(payload, _ALPHANUMERIC, "0-9 A-Z", "licence_id", f"{_LICENCE} payload")
    # ISO 7064 MOD 37,36 as python-stdnum computes it (a test holds the two equal), resumed
    # from the state after the type and issuer codes, which repeat across a department's
    # licences: a new serial costs its own characters only.
    check = _mod_37_36_state(prefix)
    for char in payload[len(prefix) :]:
        check = (((check or 36) * 2) % 37 + _ALPHANUMERIC_VALUE[char]) % 36
    return _ALPHANUMERIC[(1 - ((check or 36) * 2) % 37) % 36]


_ALPHANUMERIC_VALUE: Final = {char: i for i, char in enumerate(_ALPHANUMERIC)}


@functools.lru_cache(maxsize=4096)
def _mod_37_36_state(prefix: str) -> int:
    """The MOD 37,36 running state after ``prefix`` (characters of 0-9 A-Z)."""
    return mod_37_36.checksum(prefix)


@dataclass(frozen=True)
class LicenceIdentifier:
    """An e-licence identifier; ``str()`` gives the full dotted form with its check."""

    type_code: str
    issuer_code: str
    serial: str
    version: int

    def __copy__(self) -> LicenceIdentifier:
        return self  # immutable (and, compiled, not rebuilt field by field)

    def __deepcopy__(self, memo: dict[int, object]) -> LicenceIdentifier:
        return self

    @property
    def check(self) -> str:
        """The MOD 37,36 check character."""
        return licence_identifier_check(self.type_code, self.issuer_code, self.serial, self.version)

    def __str__(self) -> str:
        """``1.2.156.3005.2.<type>.<issuer>.<serial>.<version:03>.<check>``."""
        parts = (self.type_code, self.issuer_code, self.serial, f"{self.version:03d}", self.check)
        return ".".join((ROOT, *parts))


def mint_licence_identifier(
    type_code: str, issuer_code: str, serial: str, version: int
) -> LicenceIdentifier:
    """Build a new identifier from fully validated parts.

    The type code and issuer code must be valid (including their check characters); the
    serial is 1-32 characters of 0-9 A-Z (upper-cased); the version is 1-999.
    """
    type_code = validate_licence_type_code(type_code, "type_code")
    issuer_code = validate_department_code(issuer_code, "issuer_code")
    serial = _compact(serial)
    _check_serial(serial, "serial")
    return LicenceIdentifier(type_code, issuer_code, serial, _check_version(version, "version"))


def _split_licence_identifier(text: str, field: str) -> list[str]:
    """Check the root and return the 5 parts after it, or raise ``FORMAT``."""
    prefix = ROOT + "."
    if not text.startswith(prefix):
        description = f"{_LICENCE} must start with the root {ROOT}"
        raise InvalidArgument.field(field, description, "FORMAT")
    parts = text[len(prefix) :].split(".")
    if len(parts) != 5:
        description = (
            f"{_LICENCE} must have 5 dot-separated parts after the root {ROOT} (type code, "
            f"issuer code, serial, version, check), got {len(parts)}"
        )
        raise InvalidArgument.field(field, description, "FORMAT")
    return parts


def _parse_version(text: str, field: str) -> int:
    """Raise ``VERSION`` unless ``text`` is three digits from 001 to 999."""
    if len(text) != 3 or any(c not in _DIGITS for c in text) or text == "000":
        description = f"{_LICENCE} version must be 3 digits from 001 to 999, got {text!r}"
        raise InvalidArgument.field(field, description, "VERSION")
    return int(text)


def _check_licence_parts(parts: list[str], field: str) -> None:
    """Structure and alphabet of the type code, issuer code, serial and check parts."""
    type_code, issuer, serial, _, check = parts
    _check_type_code_structure(type_code, field, f"{_LICENCE} type code")
    _check_length(issuer, 18, field, f"{_LICENCE} issuer code")
    what = f"{_LICENCE} issuer code"
    _check_charset(issuer, CREDIT_CODE_ALPHABET, _CREDIT_ALPHABET_TEXT, field, what)
    _check_serial(serial, field, f"{_LICENCE} serial")
    _check_length(check, 1, field, f"{_LICENCE} check")
    _check_charset(check, _ALPHANUMERIC, "0-9 A-Z", field, f"{_LICENCE} check")


def parse_licence_identifier(raw: str, field: str = "licence_id") -> LicenceIdentifier:
    """Parse and check a dotted e-licence identifier (whitespace removed, upper-cased).

    Checks the root and part count (``FORMAT``), each part's length and alphabet (``LENGTH``,
    ``CHARACTER_SET``), the version (``VERSION``) and the MOD 37,36 check character
    (``CHECK_CHARACTER``). The embedded credit codes are checked for structure only, not for
    their own check characters: identifiers issued elsewhere are taken as issued.
    """
    text = _compact(raw)
    _require(text, field, _LICENCE)
    parts = _split_licence_identifier(text, field)
    _check_licence_parts(parts, field)
    type_code, issuer, serial, version_text, check = parts
    identifier = LicenceIdentifier(type_code, issuer, serial, _parse_version(version_text, field))
    _check_character(check, identifier.check, field, _LICENCE, "ISO 7064 MOD 37,36")
    return identifier
