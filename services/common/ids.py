"""Identifiers that sort by time: a prefix, the instant in China to the second, 64 random bits.

``A20261122055812`` + ``9F3C0B7E21D4A6C5``: a person reading one sees the day and time it was
made (China time, as everything in a case file), a list ordered by id is ordered by time, and
the random part makes an id unguessable (a receipt id is a capability to read the receipt).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from services.common.clock import CHINA_TZ


def time_ordered_id(prefix: str, at: datetime) -> str:
    """``prefix`` + ``YYYYMMDDHHMMSS`` (China time) + 16 upper-case hex digits (31 characters)."""
    return f"{prefix}{at.astimezone(CHINA_TZ):%Y%m%d%H%M%S}{secrets.token_hex(8).upper()}"
