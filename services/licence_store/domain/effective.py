"""A licence's effective status and where a day falls in its validity dates (compiled: the
batch verifier asks this once per item)."""

from __future__ import annotations

import enum
from datetime import date


class Effective(enum.Enum):
    """The status at an instant, validity dates included."""

    __hash__ = object.__hash__  # members are singletons: identity, not name (hot keys)

    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"


def position(valid_from: date, valid_until: date | None, day: date) -> Effective:
    """VALID, EXPIRED or NOT_YET_VALID on ``day`` for validity from ``valid_from`` to
    ``valid_until`` inclusive (None: no expiry)."""
    if day < valid_from:
        return Effective.NOT_YET_VALID
    if valid_until is not None and day > valid_until:
        return Effective.EXPIRED
    return Effective.VALID
