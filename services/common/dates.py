"""Calendar dates in requests: one form and one allowed range, checked where they are parsed.

Every date a caller sends (a licence's ``valid_from``/``valid_until``, a DATE field of a
licence's data, an assistance commitment's ``check_by``, a supervision period's
``submitted_from``/``submitted_to``) is a ``YYYY-MM-DD`` date between :data:`DATE_MIN` and
:data:`DATE_MAX` inclusive. The range is wide enough for any date a licence carries (an
organisation founded in the nineteenth century, a validity running a century ahead) and narrow
enough that the day arithmetic done on it (a validity of up to 100 years, the day after a
period) stays far from Python's calendar limits (years 1 and 9999), so it cannot overflow.
"""

from __future__ import annotations

import re
from datetime import date

from services.common.errors import InvalidArgument

__all__ = ["DATE_MAX", "DATE_MIN", "check_in_range", "parse_date"]

#: The earliest date a request may carry.
DATE_MIN = date(1800, 1, 1)
#: The latest date a request may carry.
DATE_MAX = date(2999, 12, 31)

_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(raw: str, field_name: str) -> date:
    """Parse a ``YYYY-MM-DD`` date within the allowed range, naming the field when it is not
    one (reason ``DATE_FORMAT``) or lies outside the range (reason ``DATE_RANGE``)."""
    try:
        if not _FORM.fullmatch(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidArgument.field(
            field_name, f"{raw!r} is not a date in the form YYYY-MM-DD", "DATE_FORMAT"
        ) from None
    return check_in_range(day, field_name)


def check_in_range(day: date, field_name: str) -> date:
    """``day`` itself when it lies within the allowed range, else INVALID_ARGUMENT naming the
    field and the range."""
    if not DATE_MIN <= day <= DATE_MAX:
        raise InvalidArgument.field(
            field_name,
            f"{day.isoformat()} is outside the allowed range {DATE_MIN} to {DATE_MAX}",
            "DATE_RANGE",
        )
    return day
