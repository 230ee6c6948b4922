"""Time-ordered ids: the instant in China to the second, then 64 random bits never handed out
twice (in a process, or in a process and its forked children)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

from services.common.ids import time_ordered_id

AT = datetime(2026, 12, 5, 16, 30, 59, 999_999, tzinfo=UTC)  # 2026-12-06 00:30:59 in China
ID = re.compile(r"^R(\d{14})([0-9A-F]{16})$")


def _second(made: str) -> str:
    match = ID.match(made)
    assert match is not None, made
    return match.group(1)


def test_an_id_is_the_second_in_china_then_random_hex() -> None:
    assert _second(time_ordered_id("R", AT)) == "20261206003059"


def test_each_second_is_written_as_its_own() -> None:
    later = AT + timedelta(microseconds=1)  # the next second
    texts = [_second(time_ordered_id("R", t)) for t in (AT, later, AT, later)]
    assert texts == ["20261206003059", "20261206003100", "20261206003059", "20261206003100"]


def test_random_parts_are_never_repeated_across_blocks() -> None:
    parts = [time_ordered_id("R", AT)[15:] for _ in range(5_000)]  # ~10 blocks of randomness
    assert len(set(parts)) == len(parts)


def test_a_forked_child_does_not_hand_out_its_parents_random_bytes() -> None:
    time_ordered_id("R", AT)  # the parent holds a block, partly used
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(write, "".join(time_ordered_id("R", AT)[15:] for _ in range(4)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    parent = "".join(time_ordered_id("R", AT)[15:] for _ in range(4))
    assert len(child) == len(parent) == 64
    child_parts = {child[i : i + 16] for i in range(0, 64, 16)}
    assert child_parts.isdisjoint(parent[i : i + 16] for i in range(0, 64, 16))
