"""Page sizes and opaque page tokens, validated the same way everywhere."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from services.common.errors import InvalidArgument
from services.common.limits import fitting

T = TypeVar("T")
M = TypeVar("M")


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


def timed_position(at: datetime, key: str) -> str:
    """A position in an (instant, key) order, such as a queue by deadline, for a token."""
    return f"{at.isoformat()}|{key}"


def split_timed_position(position: str, field: str = "page_token") -> tuple[datetime, str] | None:
    """The (instant, key) a :func:`timed_position` stands for; None for "" (the first page)."""
    if not position:
        return None
    text, _, key = position.partition("|")
    try:
        at: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or not key:
        raise InvalidArgument.field(
            field, "is not a token returned by a previous page", "PAGE_TOKEN"
        )
    return at, key


def sized_page(
    items: Sequence[T],
    encoded: Sequence[M],
    sizes: Sequence[int],
    key: Callable[[T], str],
    token: str,
) -> tuple[list[M], str]:
    """The leading ``encoded`` items that fit one answer (:func:`~services.common.limits.fitting`)
    and the token to continue from: ``token`` if all fit, else one for "after the last kept"."""
    count = fitting(sizes)
    if count >= len(encoded):
        return list(encoded), token
    return list(encoded[:count]), encode_token(key(items[count - 1]))


def page_after(
    items: Sequence[T], key: Callable[[T], str], size: int, token: str
) -> tuple[list[T], str]:
    """A page of ``items`` (already in ``key`` order): ``size`` of them after the position
    ``token`` stands for, and the token for the next page ("" on the last)."""
    after = decode_token(token)
    rest = [i for i in items if key(i) > after] if after else list(items)
    page = rest[:size]
    return page, encode_token(key(page[-1])) if len(rest) > size else ""
