"""Retrying transient failures: exponential backoff with jitter under an overall deadline.

Only errors whose ``status`` is in :attr:`RetryPolicy.retry_codes` are retried (by default
UNAVAILABLE and RESOURCE_EXHAUSTED); everything else is the caller's to handle at once. A
:class:`~yihao_shared.errors.ResourceExhausted` error's ``retry_after`` (the server's
``google.rpc.RetryInfo``) is a floor for the next wait. No wait is started that would end
past the deadline: the last error is raised instead, with a note saying how many attempts
were made.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from yihao_shared.errors import ResourceExhausted, YihaoError

__all__ = [
    "DEFAULT_RETRY_CODES",
    "NO_RETRY",
    "RetryPolicy",
    "call_with_retry",
    "is_unreachable",
]

T = TypeVar("T")

DEFAULT_RETRY_CODES: frozenset[str] = frozenset({"UNAVAILABLE", "RESOURCE_EXHAUSTED"})


def is_unreachable(error: YihaoError) -> bool:
    """Whether ``error`` says no connection to the server could be made."""
    return error.status == "UNAVAILABLE" and "failed to connect" in error.message.lower()


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait between attempts (all times in seconds).

    The n-th wait (n from 0) is ``min(initial * multiplier**n, maximum)``, shortened by a
    random fraction of up to ``jitter`` of itself so that clients that failed together do
    not come back together; ``jitter=0`` makes it deterministic. ``deadline`` bounds the
    whole call, attempts and waits together. With ``retry_unreachable=False`` an UNAVAILABLE
    that says the server could not be reached at all fails at once — right for a person at
    a terminal, while a back-office job rides out a server restart with the default.
    """

    initial: float = 0.1
    maximum: float = 2.0
    multiplier: float = 2.0
    deadline: float = 30.0
    retry_codes: frozenset[str] = DEFAULT_RETRY_CODES
    jitter: float = 0.5
    retry_unreachable: bool = True

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.multiplier < 1:
            raise ValueError("need 0 <= initial <= maximum and multiplier >= 1")
        if self.deadline < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("need deadline >= 0 and 0 <= jitter <= 1")

    def retries(self, error: YihaoError) -> bool:
        """Whether ``error`` is worth another attempt."""
        if not self.retry_unreachable and is_unreachable(error):
            return False
        return error.status in self.retry_codes

    def backoff(self) -> Iterator[float]:
        """The successive waits before jitter: growing, capped at ``maximum``, endless."""
        delay = self.initial
        while True:
            yield delay
            delay = min(delay * self.multiplier, self.maximum)

    def wait(self, delay: float, error: YihaoError) -> float:
        """The actual wait for a backoff ``delay`` after ``error``: jittered, floored."""
        wait = delay * (1.0 - self.jitter * random.random())
        if isinstance(error, ResourceExhausted):
            wait = max(wait, error.retry_after)
        return wait


#: A policy that never retries (one attempt, bounded only by the per-attempt timeout).
NO_RETRY = RetryPolicy(retry_codes=frozenset(), deadline=math.inf)


def call_with_retry(
    fn: Callable[[float], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``fn(remaining)`` until it succeeds, fails for good, or the deadline comes.

    ``remaining`` is the time left before the overall deadline, so ``fn`` can bound its own
    attempt. ``fn`` must raise :class:`YihaoError` (not ``grpc.RpcError``) to be retried.
    """
    end = clock() + policy.deadline
    delays = policy.backoff()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(max(end - clock(), 0.0))
        except YihaoError as error:
            wait = policy.wait(next(delays), error) if policy.retries(error) else None
            if wait is None or clock() + wait >= end:
                if attempt > 1:
                    error.add_note(f"gave up after {attempt} attempts")
                raise
        sleep(wait)
