"""Leader/follower queues: callers queue items, one of them at a time handles what is queued in
its own thread (no worker thread to hand work to and back), then hands the lead to the first
caller still queued. :class:`~services.common.group_commit.GroupCommitter` (one transaction for
many callers' rows) and :class:`~services.common.combining.Combiner` (one round of work for
many callers' items) are both built on :class:`Relay`.

Each waiting caller sleeps on its own :class:`Wakeup` and is woken once: when its item is done,
or when the lead is handed to it. A caller out of time leaves the queue (unless its item was
already taken), passing on the lead if it had just been handed to it.
"""

from __future__ import annotations

import _thread
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from services.common.errors import YihaoError

T = TypeVar("T")


class Wakeup:
    """One sleeping caller's wake-up call: :meth:`set` wakes it, or the next :meth:`wait`
    returns at once; each :meth:`wait` uses up a :meth:`set` (several before it count as one).

    What ``threading.Event`` does for one waiter, on one bare lock: an Event is a Condition
    in Python code, whose woken thread must then take the Condition's lock, often still held
    by the thread that woke it — one more sleep and wake-up, at every hand-off of a
    verification round or group commit (the kernel's task switches were a quarter of
    VerifyLicence's server CPU in ``benchmarks.perf_server``)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()  # held: not set

    def set(self) -> None:
        """Wake the waiting caller (or let its next wait return at once)."""
        try:  # noqa: SIM105 (a hand-off path: no context manager's cost)
            self._lock.release()
        except RuntimeError:  # already set
            pass

    def wait(self, timeout: float) -> bool:
        """Sleep until set or ``timeout`` seconds have passed; whether it was set."""
        return self._lock.acquire(True, max(0.0, timeout))


class Slot:
    """One caller's item and what became of it."""

    __slots__ = ("done", "error", "event", "lead", "result")

    def __init__(self, event: Wakeup | None = None) -> None:
        self.done = False
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.event = event or Wakeup()

    def finish(self, result: Any) -> None:
        """Record ``result`` (an exception: the item failed) and wake the caller."""
        if isinstance(result, BaseException):
            self.error = result
        else:
            self.result = result
        self.done = True
        self.event.set()


class Relay(Generic[T]):
    """The queue and the lead; subclasses say what leading does (``lead``) and take their
    items with :meth:`_take`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[tuple[T, Slot]] = []
        self._leading = False

    def _join(self, items: Sequence[T], slots: Sequence[Slot]) -> bool:
        """(Holding the lock.) Queue ``items``; True if nobody was leading (the first of
        ``slots`` now leads), False if the items wait for a leader."""
        self._queue.extend(zip(items, slots, strict=True))
        if self._leading:
            return False
        self._leading = slots[0].lead = True
        return True

    def _wait(
        self,
        slots: Sequence[Slot],
        event: Wakeup,
        deadline: float,
        lead: Callable[[], None],
        late: Callable[[], YihaoError],
    ) -> None:
        """Until every slot is done: lead when the lead comes to one of them, else sleep on
        ``event``; past ``deadline``, leave the queue and raise ``late()`` (unless done)."""
        while not all(slot.done for slot in slots):
            leads = [slot for slot in slots if slot.lead]
            if leads:
                for slot in leads:
                    slot.lead = False
                lead()
                continue
            if not event.wait(deadline - time.monotonic()):
                for slot in slots:
                    self._give_up(slot)
                if not all(slot.done for slot in slots):
                    raise late()

    def _take(self, most: int) -> list[tuple[T, Slot]]:
        """(Holding the lock.) Up to ``most`` queued items, oldest first, off the queue."""
        taken = self._queue[:most]
        del self._queue[:most]
        return taken

    def _give_up(self, slot: Slot) -> None:
        with self._lock:
            if slot.done:
                return
            self._queue = [(i, s) for i, s in self._queue if s is not slot]
            if slot.lead:
                slot.lead = False
                self._hand_over()

    def _hand_over(self) -> None:
        """(Holding the lock.) The first queued caller leads next; with none, nobody leads."""
        if self._queue:
            first = self._queue[0][1]
            first.lead = True
            first.event.set()
        else:
            self._leading = False
