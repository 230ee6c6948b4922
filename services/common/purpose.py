"""Why a department reads a person's data: a stated purpose and the case it is read for.

Every read of a person's data (a licence whose holder is a citizen, a lookup by a citizen ID
number, a holder match against a presented citizen ID number, an assistance request) states
both; the holder's access record ("who used my data") keeps them. A missing or blank one is
INVALID_ARGUMENT naming the field, before anything is read. Organisations' public
registration data (a licence whose holder is an organisation, a lookup by a unified social
credit code) may be read without one: it is public by law (企业信息公示暂行条例); a purpose
given anyway is recorded.

Plain Python: no grpc, no SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import FieldViolation, InvalidArgument

MAX_PURPOSE = 200
MAX_CASE_NUMBER = 64
PURPOSE_REQUIRED = "PURPOSE_REQUIRED"
CASE_NUMBER_REQUIRED = "CASE_NUMBER_REQUIRED"
_CONTROL = re.compile("[\x00-\x1f]")


@dataclass(frozen=True)
class Why:
    """Why a department reads a holder's data: kept in the holder's access record."""

    purpose: str = ""
    case_number: str = ""

    @property
    def stated(self) -> bool:
        """Whether both a purpose and a case number were given."""
        return bool(self.purpose and self.case_number)


def why_in(purpose: str, case_number: str, *, required: bool, prefix: str = "") -> Why:
    """Purpose and case number, stripped and bounded; both required when ``required``.

    ``prefix`` names where they sit in the request (e.g. ``"items[3]."``).
    """
    if _plain(purpose, MAX_PURPOSE, required) and _plain(case_number, MAX_CASE_NUMBER, required):
        # The common case, decided without building any message (every batch item asks it).
        return Why(purpose.strip(), case_number.strip())
    violations = [
        *_violations(purpose, f"{prefix}purpose", MAX_PURPOSE, required, PURPOSE_REQUIRED),
        *_violations(
            case_number, f"{prefix}case_number", MAX_CASE_NUMBER, required, CASE_NUMBER_REQUIRED
        ),
    ]
    if violations:
        raise InvalidArgument(violations=violations)
    return Why(purpose.strip(), case_number.strip())


def _plain(value: str, maximum: int, required: bool) -> bool:
    """Whether ``value`` has nothing :func:`_violations` would name."""
    text = value.strip()
    return (bool(text) or not required) and len(text) <= maximum and not _CONTROL.search(text)


def _violations(
    value: str, name: str, maximum: int, required: bool, missing: str
) -> list[FieldViolation]:
    text = value.strip()
    if required and not text:
        what = "why the data is read" if missing == PURPOSE_REQUIRED else "the case it is read for"
        return [FieldViolation(name, f"is required to read a person's data: state {what}", missing)]
    if len(text) > maximum:
        return [FieldViolation(name, f"at most {maximum} characters", "TOO_LONG")]
    if _CONTROL.search(text):
        return [FieldViolation(name, "must not contain control characters", "CHARACTER_SET")]
    return []
