"""The serving process's collector settings (services.common.heap)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.common import heap


@pytest.fixture
def restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_settle_freezes_the_start_up_heap_and_collects_the_young_less_often(
    restored: None,
) -> None:
    kept = [_Node() for _ in range(100)]
    heap.settle()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    assert not any(gc.is_tracked(n) and n in gc.get_objects() for n in kept[:3])


def test_cycles_made_after_settling_are_still_collected(restored: None) -> None:
    heap.settle()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
