"""Masking personal numbers in logs.

Every log record passes through :class:`MaskingFilter` (installed on the root logger's
handlers by :func:`install`), which masks anything shaped like a citizen ID number
(18 characters, or the legacy 15 digits) as ``110105********002X``. Unified social credit
codes are public and are left alone. Code should not log personal data in the first place;
this is the net under that rule, and a test scans real server logs for leaks.
"""

from __future__ import annotations

import logging
import re

from services.common.identifiers import mask_holder_number
from services.common.logformat import formatter_for

# Not preceded or followed by another digit/letter, so longer tokens are left alone.
_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """``text`` with every citizen-ID-shaped token masked."""
    return _CITIZEN_ID.sub(lambda m: _mask(m.group(1)), text)


def _mask(number: str) -> str:
    if len(number) == 15:
        return number[:6] + "*" * 6 + number[-3:]
    return mask_holder_number(number.upper())


class MaskingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with ID numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


def install(level: str = "INFO", log_format: str = "text") -> None:
    """Configure logging with the masking filter on every root handler; ``log_format`` is
    "text" or "json" (one JSON object per line, see :mod:`services.common.logformat`)."""
    logging.basicConfig(level=level)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter_for(log_format))
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
