"""Access records as they are stored and logged: the holder tag the index finds a holder's
records by, a record's line in its batch's digest, and a batch made ready for its insert.

No database here (:mod:`services.common.access_log` writes and reads the rows): this module is
on the verification hot path and is compiled (:data:`services.common.hot_path.HOT_MODULES`),
because a batch verification stages a thousand records a chunk — each cut to its columns'
widths, given its batch id and holder tag, and read into the batch's digest — and doing that
in interpreted code, in the receipt writer's hold on the GIL, was ~1 µs an item
(:func:`stage` does it in one pass).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from services.common.clock import as_utc

#: An access record as a plain row, in column order: holder_key, department_code, channel,
#: purpose, case_number, what, at, staff (the batch path makes one per item; no object each).
AccessRow = tuple[str, str, str, str, str, str, datetime, str | None]

#: The widths of the text columns a caller's words go into (the table declares them): longer
#: values are cut to fit when a batch is staged, and the digest commits to what is stored.
PURPOSE_WIDTH: Final = 200
CASE_NUMBER_WIDTH: Final = 64
WHAT_WIDTH: Final = 500


def holder_tag(holder_key: str) -> int:
    """The index's number for a holder key: its first 15 characters read as hexadecimal (a
    blind index is a SHA-256 HMAC in hex, already uniform: 60 bits, within a signed 64-bit
    column) or, for a key they do not read as, 60 bits of its SHA-256. Equal keys, equal
    tags; a tag shared by two keys costs the holder's query one row it then skips."""
    try:
        return int(holder_key[:15], 16)
    except ValueError:
        return int.from_bytes(hashlib.sha256(holder_key.encode()).digest()[:8]) >> 4


def row_line(row: Sequence[Any], at_text: str = "") -> str:
    """One record as its batch digest reads it: each value length-prefixed (unambiguous
    whatever the text holds), the instant in UTC, the staff member if one was named
    (``s`` + length-prefixed: a record naming none reads as before migration 0016, so
    batches logged before it still verify), then a newline. ``row``: an :data:`AccessRow`
    (values after its eighth are not read). ``at_text``: the instant already formatted."""
    h, d, c, p, n, w, at, s = row[:8]
    when = at_text or as_utc(at).isoformat()
    staff = f"s{len(s)}:{s}" if s else ""
    return (
        f"{len(h)}:{h}{len(d)}:{d}{len(c)}:{c}{len(p)}:{p}{len(n)}:{n}{len(w)}:{w}"
        f"{len(when)}:{when}{staff}\n"
    )


class _Lines:
    """A batch's digest lines, the parts its rows share (department, channel, purpose and
    case; instant and staff) formatted once per distinct value — the same text as
    :func:`row_line`."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._middles: dict[tuple[str, str, str, str], str] = {}
        self._tails: dict[tuple[datetime, str | None], str] = {}

    def add(self, h: str, d: str, c: str, p: str, n: str, w: str, at: datetime, s: Any) -> None:
        key = (d, c, p, n)
        middle = self._middles.get(key)
        if middle is None:
            middle = self._middles[key] = f"{len(d)}:{d}{len(c)}:{c}{len(p)}:{p}{len(n)}:{n}"
        when = (at, s)
        tail = self._tails.get(when)
        if tail is None:
            text = as_utc(at).isoformat()
            staff = f"s{len(s)}:{s}" if s else ""
            tail = self._tails[when] = f"{len(text)}:{text}{staff}\n"
        self.lines.append(f"{len(h)}:{h}{middle}{len(w)}:{w}{tail}")

    def digest(self) -> str:
        return hashlib.sha256("".join(self.lines).encode()).hexdigest()


def batch_digest(rows: Iterable[Sequence[Any]]) -> str:
    """SHA-256 over a batch's records in the order they were written (hex): each row an
    :data:`AccessRow` (values after its eighth, such as the batch id, are not digested), each
    read as :func:`row_line` reads it."""
    lines = _Lines()
    for row in rows:
        lines.add(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
    return lines.digest()


def stage(rows: Sequence[AccessRow], batch: str) -> tuple[list[tuple[Any, ...]], str]:
    """A batch of records ready to insert, in one pass: each row cut to its columns' widths,
    then its ``batch`` id and :func:`holder_tag` after its eight values; and the batch's
    digest (:func:`batch_digest` of the rows as stored)."""
    lines = _Lines()
    stored: list[tuple[Any, ...]] = []
    for row in rows:
        h, d, c, p, n, w, at, s = row
        if len(p) > PURPOSE_WIDTH or len(n) > CASE_NUMBER_WIDTH or len(w) > WHAT_WIDTH:
            p, n, w = p[:PURPOSE_WIDTH], n[:CASE_NUMBER_WIDTH], w[:WHAT_WIDTH]
        stored.append((h, d, c, p, n, w, at, s, batch, holder_tag(h)))
        lines.add(h, d, c, p, n, w, at, s)
    return stored, lines.digest()
