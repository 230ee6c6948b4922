"""Page sizes and opaque page tokens, validated the same way everywhere."""

from __future__ import annotations

import base64
import binascii

from services.common.errors import InvalidArgument


def page_size(requested: int, default: int, maximum: int, field: str = "page_size") -> int:
    """The page size to use: ``default`` for 0, else 1..``maximum``."""
    if requested == 0:
        return default
    if not 1 <= requested <= maximum:
        raise InvalidArgument.field(
            field, f"must be between 1 and {maximum} (0 for the default {default})", "OUT_OF_RANGE"
        )
    return requested


def encode_token(position: str) -> str:
    """An opaque token for "continue after ``position``"."""
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode().rstrip("=")


def decode_token(token: str, field: str = "page_token") -> str:
    """The position a token stands for; "" for no token."""
    if not token:
        return ""
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith("v1:") or len(token) > 200 or not text.isprintable():
        raise InvalidArgument.field(
            field, "is not a token returned by a previous page", "PAGE_TOKEN"
        )
    return text[3:]
