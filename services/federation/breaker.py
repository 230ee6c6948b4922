"""A circuit breaker per peer region: stop hammering a peer that does not answer.

CLOSED: calls go through; ``failures`` failures in a row open the circuit. OPEN: calls are
answered at once (CANNOT_CHECK, REGION_UNAVAILABLE) for ``open_seconds``. HALF_OPEN: after that,
one trial call goes through; its success closes the circuit, its failure opens it again.
Plain Python with the time injected, so it is tested without waiting.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable


class BreakerState(enum.Enum):
    """The state of a peer's circuit; the value is what the metric exports."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """One peer's circuit (thread-safe)."""

    def __init__(
        self,
        failures: int = 3,
        open_seconds: float = 10.0,
        *,
        now: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] = lambda _state: None,
    ) -> None:
        self.threshold = failures
        self.open_seconds = open_seconds
        self._now = now
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial = False

    @property
    def state(self) -> BreakerState:
        """The state now (an open circuit whose time is up reads HALF_OPEN)."""
        with self._lock:
            return self._current()

    def _current(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._now() - self._opened_at >= self.open_seconds:
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            self._on_change(state)

    def allow(self) -> bool:
        """Whether a call may go to the peer now (half-open: one trial at a time)."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial:
                self._trial = True
                return True
            return False

    def succeeded(self) -> None:
        """A call reached the peer and was answered."""
        with self._lock:
            self._failures = 0
            self._trial = False
            self._set(BreakerState.CLOSED)

    def failed(self) -> None:
        """A call did not reach the peer, or was not answered in time."""
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at = self._now()
                self._trial = False
                self._set(BreakerState.OPEN)
