"""Identifiers that sort by time: a prefix, the instant in China to the second, 64 random bits.

``A20261122055812`` + ``9F3C0B7E21D4A6C5``: a person reading one sees the day and time it was
made (China time, as everything in a case file), a list ordered by id is ordered by time, and
the random part makes an id unguessable (a receipt id is a capability to read the receipt).

Also :func:`change_seq`: the sequence a record's change is stamped with, for watchers.
"""

from __future__ import annotations

import os
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
    return f"{prefix}{_second_text(at)}{_RANDOM.take8().hex().upper()}"


#: The last instant's second formatted, keyed by that second (every receipt of a busy second
#: shares it: strftime was most of an id's cost). Replaced whole, so threads never see a mix.
_last_second: tuple[int, str] = (-1, "")


def _second_text(at: datetime) -> str:
    global _last_second
    key = int(at.timestamp())
    cached = _last_second
    if cached[0] == key:
        return cached[1]
    text = f"{at.astimezone(CHINA_TZ):%Y%m%d%H%M%S}"
    _last_second = (key, text)
    return text


class _Randomness:
    """The operating system's random bytes (``os.urandom``, as ``secrets`` uses), drawn a block
    at a time and handed out once each. One ``getrandom`` call an id cost a system call and a
    hand-over of the GIL on every receipt; a block serves 512 ids. The block is dropped in a
    forked child, so a child never hands out its parent's bytes."""

    BLOCK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._at = 0

    def take8(self) -> bytes:
        """Eight random bytes no other caller of this process gets."""
        with self._lock:
            at = self._at
            if at + 8 > len(self._block):
                self._block, at = os.urandom(self.BLOCK), 0
            self._at = at + 8
            return self._block[at : at + 8]

    def forget(self) -> None:
        """Drop the block (in a forked child: its parent hands out the same bytes)."""
        self._lock = threading.Lock()
        self._block, self._at = b"", 0


_RANDOM = _Randomness()
os.register_at_fork(after_in_child=_RANDOM.forget)
