"""Flat combining: concurrent callers' items handled together by whichever caller comes first.

A caller's :meth:`Combiner.submit` queues its item; the first caller to find nobody at work
becomes the combiner and runs the whole queue through one call of ``run`` in its own thread,
then hands the role to the next queued caller, if any. Callers arriving meanwhile wait on
their own event, woken once with their result (or to combine the next round).

Why: on CPython the verification path's short steps, run by eight handler threads at once,
spent more CPU handing the GIL and SQLite's calls back and forth than on the steps themselves
(42 % of the server's CPU in the kernel, 36-41 thread switches per call against 13 for a
no-op). Combined, one thread does a round's read, verdicts, signatures and durable write
while the others sleep: in process, 650 -> 400 us of CPU per call with eight callers
(docs/benchmarks.md, "Third pass").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from services.common.database import call_deadline
from services.common.errors import DeadlineExceeded
from services.common.metrics import NO_METRICS, Metrics

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[R]):
    __slots__ = ("done", "error", "event", "lead", "result")

    def __init__(self) -> None:
        self.done = False
        self.lead = False
        self.result: R | None = None
        self.error: BaseException | None = None
        self.event = threading.Event()


class Combiner(Generic[T, R]):
    """Runs concurrent callers' items in rounds: ``run(items)`` answers each item with a
    result or the exception that item alone raises (an exception from ``run`` itself is every
    item's)."""

    def __init__(
        self,
        run: Callable[[Sequence[T]], list[R | BaseException]],
        *,
        max_round: int = 256,
        name: str = "combiner",
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._run = run
        self.name = name
        self._metrics = metrics
        self._max_round = max_round
        self._lock = threading.Lock()
        self._queue: list[tuple[T, _Slot[R]]] = []
        self._combining = False

    def submit(self, item: T, timeout: float = 30.0) -> R:
        """``item``'s result once its round has run (its exception raised)."""
        slot: _Slot[R] = _Slot()
        deadline = time.monotonic() + timeout
        with self._lock:
            self._queue.append((item, slot))
            if not self._combining:
                self._combining = slot.lead = True
        while not slot.done:
            if slot.lead:
                slot.lead = False
                self._combine()
                continue
            if not slot.event.wait(deadline - time.monotonic()):
                self._give_up(slot)
                if not slot.done:
                    raise DeadlineExceeded("no answer in time", reason="COMBINE_TIMEOUT")
            slot.event.clear()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _give_up(self, slot: _Slot[R]) -> None:
        with self._lock:
            if slot.done:
                return
            self._queue = [(i, s) for i, s in self._queue if s is not slot]
            if slot.lead:
                slot.lead = False
                self._hand_over()

    def _combine(self) -> None:
        try:
            with self._lock:
                taken = self._queue[: self._max_round]
                del self._queue[: self._max_round]
            if not taken:
                return
            # The round runs for every caller in it: the combiner's own deadline must not cut
            # it short (each caller's wait has its own bound).
            token = call_deadline.set(None)
            began = time.monotonic()
            try:
                results = self._run([item for item, _ in taken])
            except Exception as exc:  # every item of the round learns it failed
                results = [exc] * len(taken)
            finally:
                call_deadline.reset(token)
            self._metrics.combined_round(self.name, len(taken), time.monotonic() - began)
            for (_, slot), result in zip(taken, results, strict=True):
                if isinstance(result, BaseException):
                    slot.error = result
                else:
                    slot.result = result
                slot.done = True
                slot.event.set()
        finally:
            with self._lock:
                self._hand_over()

    def _hand_over(self) -> None:
        if self._queue:
            first = self._queue[0][1]
            first.lead = True
            first.event.set()
        else:
            self._combining = False
