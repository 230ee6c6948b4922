"""Rate limits: a token bucket per department and kind of call.

Buckets live in Redis when ``REDIS_URL`` is set, so every process and node shares them (one
atomic Lua script per call); otherwise, or while Redis is unreachable, in process memory —
limits then hold per process, and Redis is tried again after a few seconds. Verification by
holder number gets a much tighter limit than verification by licence number: it is what an
enumeration of people would use.

A refused call is RESOURCE_EXHAUSTED with ``google.rpc.RetryInfo`` saying when to retry.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.common.errors import InvalidArgument, ResourceExhausted
from services.common.metrics import NO_METRICS, Metrics

log = logging.getLogger(__name__)

REDIS_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Limit:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: int


#: Default limits per kind of call (per department).
DEFAULT_LIMITS: dict[str, Limit] = {
    "default": Limit(200.0, 400),
    "verify": Limit(1000.0, 2000),
    "verify_by_holder": Limit(5.0, 20),
    "list_by_holder": Limit(20.0, 50),
    "issue": Limit(500.0, 1000),
    "stream": Limit(5.0, 20),
    # Holder-match questions, charged per item (a VerifyBatch item presenting a holder number
    # or name is one question, as a VerifyLicence call is): the calls' own kinds count calls.
    "holder_match": Limit(1000.0, 10_000),
    # Federation, on the owning side: questions forwarded by one peer region (all its
    # departments together), per item; lookups by holder number get the tighter budget.
    "federated": Limit(1000.0, 2000),
    "federated_by_holder": Limit(20.0, 100),
    # ... and on the forwarding side: this region's lookups by holder number sent to one peer
    # (all its departments together), so that a busy region does not flood its neighbours.
    "forwarded_by_holder": Limit(20.0, 100),
}

#: Which kind each method is; the rest are "default".
KIND_OF: dict[str, str] = {
    "/yihao.v1.Verifier/VerifyLicence": "verify",
    "/yihao.v1.Verifier/VerifyDocument": "verify",
    "/yihao.v1.Verifier/VerifyByHolder": "verify_by_holder",
    "/yihao.v1.Verifier/CheckMaterials": "verify_by_holder",
    # An automatic assistance item answers a lookup by holder number at once: the same budget
    # as VerifyByHolder (a manual one is a lookup too, answered later).
    "/yihao.v1.Assistance/SubmitRequest": "verify_by_holder",
    "/yihao.v1.LicenceStore/ListLicencesByHolder": "list_by_holder",
    "/yihao.v1.LicenceStore/IssueLicence": "issue",
    "/yihao.v1.LicenceStore/ImportLicences": "stream",
    "/yihao.v1.Verifier/VerifyBatch": "stream",
    "/yihao.v1.LicenceStore/WatchEvents": "stream",
    "/yihao.v1.Assistance/WatchMyRequests": "stream",
}


def parse_limits(raw: str | None) -> dict[str, Limit]:
    """Defaults, overridden by JSON ``{"kind": [rate, burst], ...}`` (YIHAO_RATE_LIMITS)."""
    limits = dict(DEFAULT_LIMITS)
    if not raw:
        return limits
    try:
        data = json.loads(raw)
        for kind, (rate, burst) in data.items():
            if kind not in DEFAULT_LIMITS or rate <= 0 or int(burst) < 1:
                raise ValueError(kind)
            limits[kind] = Limit(float(rate), int(burst))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidArgument.field(
            "YIHAO_RATE_LIMITS",
            f'must be JSON {{"kind": [rate, burst]}} with kinds {", ".join(DEFAULT_LIMITS)}: {exc}',
            "FORMAT",
        ) from None
    return limits


class Buckets(Protocol):
    """Somewhere token buckets live."""

    def take(self, key: str, limit: Limit, n: int = 1) -> float:
        """Take ``n`` tokens: 0.0 if granted, else seconds until they will be."""
        ...


class LocalBuckets:
    """Buckets in this process's memory."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: Limit, n: int = 1) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate)
            if tokens >= n:
                self._state[key] = (tokens - n, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (n - tokens) / limit.rate


# KEYS[1] = bucket; ARGV = rate, burst, tokens wanted. Redis TIME keeps every node on one clock.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - last) * rate)
local wait = 0
if tokens >= want then tokens = tokens - want else wait = (want - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'last', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisBuckets:
    """Buckets shared through Redis, falling back to local ones while Redis is away."""

    def __init__(self, url: str, fallback: Buckets | None = None) -> None:
        import redis

        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._script = self._client.register_script(_TAKE)
        self._fallback = fallback or LocalBuckets()
        self._down_until = 0.0

    def take(self, key: str, limit: Limit, n: int = 1) -> float:
        if time.monotonic() < self._down_until:
            return self._fallback.take(key, limit, n)
        try:
            wait = float(self._script(keys=[f"yihao:rl:{key}"], args=[limit.rate, limit.burst, n]))
        except Exception as exc:  # any Redis failure: degrade, never fail the call
            log.warning("rate limits fall back to this process: Redis %s", type(exc).__name__)
            self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            return self._fallback.take(key, limit, n)
        return wait


class RateLimiter:
    """Decides, per department and kind of call, whether a call may proceed."""

    def __init__(
        self,
        buckets: Buckets,
        limits: Mapping[str, Limit] | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._buckets = buckets
        self._limits = dict(limits or DEFAULT_LIMITS)
        self._metrics = metrics

    def check(self, method: str, caller_code: str) -> None:
        """Raise RESOURCE_EXHAUSTED (with when to retry) if over the limit."""
        self.charge(caller_code, KIND_OF.get(method, "default"))

    def charge(self, caller_code: str, kind: str, n: int = 1) -> None:
        """Charge ``n`` questions of ``kind`` to a department (per item, not per call): raise
        RESOURCE_EXHAUSTED (with when to retry) if over the limit; more than the burst at once
        is refused outright (send fewer per message)."""
        if n <= 0:
            return
        limit = self._limits[kind]
        if n > limit.burst:
            raise ResourceExhausted(
                f"{n} {kind} questions in one message exceed the limit of {limit.burst} for "
                f"department {caller_code}; send fewer per message",
                retry_after=n / limit.rate,
                reason="RATE_LIMITED",
            )
        wait = self._buckets.take(f"{caller_code}:{kind}", limit, n)
        if wait > 0:
            self._metrics.rate_limited(caller_code, kind)
            raise ResourceExhausted(
                f"rate limit for {kind} calls by department {caller_code} exceeded; "
                f"retry in {math.ceil(wait * 1000)} ms",
                retry_after=wait,
                reason="RATE_LIMITED",
            )


def build_limiter(
    redis_url: str | None, limits_json: str | None, metrics: Metrics = NO_METRICS
) -> RateLimiter:
    """The limiter the settings ask for."""
    buckets: Buckets = RedisBuckets(redis_url) if redis_url else LocalBuckets()
    return RateLimiter(buckets, parse_limits(limits_json), metrics)
