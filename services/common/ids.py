"""Identifiers that sort by time: a prefix, the instant in China to the second, 64 random bits.

``A20261122055812`` + ``9F3C0B7E21D4A6C5``: a person reading one sees the day and time it was
made (China time, as everything in a case file), a list ordered by id is ordered by time, and
the random part makes an id unguessable (a receipt id is a capability to read the receipt).

Also :func:`change_seq`: the sequence a record's change is stamped with, for watchers.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime

from services.common.clock import CHINA_TZ

_seq_lock = threading.Lock()
_last_seq = 0


def change_seq() -> int:
    """A change sequence: microseconds since the epoch, strictly increasing in this process
    (a watcher asks for the changes after the last sequence it saw)."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
        return _last_seq


def time_ordered_id(prefix: str, at: datetime) -> str:
    """``prefix`` + ``YYYYMMDDHHMMSS`` (China time) + 16 upper-case hex digits (31 characters)."""
    return f"{prefix}{at.astimezone(CHINA_TZ):%Y%m%d%H%M%S}{secrets.token_hex(8).upper()}"
