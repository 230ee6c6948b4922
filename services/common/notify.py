"""Wake-ups for followers of a change feed, within one process.

Writers call :meth:`ChangeNotifier.notify` after they commit; followers wait on it with a
timeout and then read the database, so changes committed by other processes are still seen
within one poll interval.
"""

from __future__ import annotations

import threading


class ChangeNotifier:
    """A generation counter with a condition variable."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0

    @property
    def generation(self) -> int:
        """The number of notifications so far."""
        with self._cond:
            return self._generation

    def notify(self) -> None:
        """Something changed: wake every waiter."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Wait until the generation passes ``seen`` or ``timeout`` elapses; the generation."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != seen, timeout)
            return self._generation
