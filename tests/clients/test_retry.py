"""RetryPolicy and call_with_retry, on a fake clock: nothing here really sleeps."""

from __future__ import annotations

import math

import pytest

from clients.retry import NO_RETRY, RetryPolicy, call_with_retry, is_unreachable
from services.common.errors import (
    Conflict,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    YihaoError,
)


class FakeTime:
    """A clock that only moves when slept on (and, optionally, on each attempt)."""

    def __init__(self, attempt_cost: float = 0.0) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.attempt_cost = attempt_cost

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(errors: list[YihaoError], time: FakeTime, result: str = "ok"):
    """A call that raises ``errors`` in turn, then returns ``result``; records `remaining`."""
    remaining: list[float] = []

    def fn(left: float) -> str:
        remaining.append(left)
        time.now += time.attempt_cost
        if errors:
            raise errors.pop(0)
        return result

    fn.remaining = remaining  # type: ignore[attr-defined]
    return fn


def run(fn, policy: RetryPolicy, time: FakeTime):
    return call_with_retry(fn, policy, sleep=time.sleep, clock=time.clock)


def test_backoff_grows_and_is_capped() -> None:
    time = FakeTime()
    policy = RetryPolicy(initial=0.1, maximum=1.0, multiplier=2.0, jitter=0.0, deadline=60)
    fn = failing([Unavailable("down") for _ in range(6)], time)
    assert run(fn, policy, time) == "ok"
    assert time.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_gives_up_before_the_deadline_with_the_last_error() -> None:
    time = FakeTime(attempt_cost=0.05)
    policy = RetryPolicy(initial=0.1, maximum=0.4, jitter=0.0, deadline=1.0)
    errors = [Unavailable(f"down {i}") for i in range(100)]
    fn = failing(errors, time)
    with pytest.raises(Unavailable) as caught:
        run(fn, policy, time)
    attempts = 100 - len(errors)
    assert time.now - 100.0 <= 1.0  # never slept past the deadline
    assert caught.value.message == f"down {attempts - 1}"
    assert f"gave up after {attempts} attempts" in caught.value.__notes__[0]
    assert fn.remaining[0] == 1.0 and fn.remaining == sorted(fn.remaining, reverse=True)


def test_no_retry_on_invalid_argument() -> None:
    time = FakeTime()
    fn = failing([InvalidArgument.field("type_code", "unknown")], time)
    with pytest.raises(InvalidArgument):
        run(fn, RetryPolicy(), time)
    assert time.sleeps == []
    assert len(fn.remaining) == 1


def test_honours_retry_after() -> None:
    time = FakeTime()
    policy = RetryPolicy(initial=0.1, jitter=0.0)
    fn = failing([ResourceExhausted("rate limited", retry_after=1.5)], time)
    assert run(fn, policy, time) == "ok"
    assert time.sleeps == [1.5]


def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    time = FakeTime()
    fn = failing([ResourceExhausted("rate limited", retry_after=60)], time)
    with pytest.raises(ResourceExhausted):
        run(fn, RetryPolicy(deadline=5), time)
    assert time.sleeps == []


def test_jitter_shortens_waits_within_bounds() -> None:
    time = FakeTime()
    policy = RetryPolicy(initial=1.0, maximum=1.0, jitter=0.5, deadline=1000)
    fn = failing([Unavailable("down") for _ in range(50)], time)
    run(fn, policy, time)
    assert all(0.5 <= wait <= 1.0 for wait in time.sleeps)
    assert len(set(time.sleeps)) > 1


def test_unreachable_server_can_fail_fast() -> None:
    refused = Unavailable("failed to connect to all addresses; Connection refused")
    assert is_unreachable(refused)
    assert not is_unreachable(Unavailable("server draining"))
    time = FakeTime()
    fn = failing([refused], time)
    with pytest.raises(Unavailable):
        run(fn, RetryPolicy(retry_unreachable=False), time)
    assert RetryPolicy().retries(refused)


def test_cancelled_folded_into_unavailable_is_not_retried() -> None:
    cancelled = Unavailable("cancelled")
    cancelled.status = "CANCELLED"
    assert not RetryPolicy().retries(cancelled)


def test_no_retry_policy_gives_one_unbounded_attempt() -> None:
    time = FakeTime()
    fn = failing([Unavailable("down")], time)
    with pytest.raises(Unavailable):
        run(fn, NO_RETRY, time)
    assert fn.remaining == [math.inf]


def test_custom_retry_codes() -> None:
    time = FakeTime()
    policy = RetryPolicy(retry_codes=frozenset({"ABORTED"}), jitter=0.0)
    assert run(failing([Conflict("busy")], time), policy, time) == "ok"
    with pytest.raises(Unavailable):
        run(failing([Unavailable("down")], time), policy, time)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1},
        {"initial": 3, "maximum": 2},
        {"multiplier": 0.5},
        {"jitter": 2},
        {"deadline": -1},
    ],
)
def test_nonsense_policies_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
