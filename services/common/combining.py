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

import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from services.common.database import call_deadline
from services.common.errors import DeadlineExceeded
from services.common.metrics import NO_METRICS, Metrics
from services.common.relay import Relay, Slot

T = TypeVar("T")
R = TypeVar("R")


class Combiner(Relay[T], Generic[T, R]):
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
        super().__init__()
        self._run = run
        self._max_round = max_round
        self.name = name
        self._metrics = metrics

    def submit(self, item: T, timeout: float = 30.0) -> R:
        """``item``'s result once its round has run (its exception raised)."""
        slot = Slot()
        with self._lock:
            self._join([item], [slot])
        self._wait(
            [slot],
            slot.event,
            time.monotonic() + timeout,
            self._combine,
            lambda: DeadlineExceeded("no answer in time", reason="COMBINE_TIMEOUT"),
        )
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[no-any-return]

    def _combine(self) -> None:
        try:
            with self._lock:
                taken = self._take(self._max_round)
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
                slot.finish(result)
        finally:
            with self._lock:
                self._hand_over()
