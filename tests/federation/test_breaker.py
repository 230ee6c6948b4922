"""The circuit breaker per peer region, with time injected."""

from __future__ import annotations

from services.federation.breaker import BreakerState, CircuitBreaker


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_failures_in_a_row_and_tries_once_after_the_pause():
    t = Ticks()
    seen: list[BreakerState] = []
    breaker = CircuitBreaker(3, 10.0, now=t, on_change=seen.append)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # a success in between: the count starts again
    breaker.failed()
    breaker.failed()
    assert breaker.allow() and breaker.state is BreakerState.CLOSED
    breaker.failed()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    t.now = 9.9
    assert not breaker.allow()
    t.now = 10.0
    assert breaker.allow()  # the one trial call
    assert not breaker.allow()  # and only one at a time
    breaker.failed()  # the trial failed: open again, for another pause
    assert breaker.state is BreakerState.OPEN
    t.now = 20.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert seen == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]
