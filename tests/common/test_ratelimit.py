"""Rate limits: token buckets in process, in Redis shared by two server processes, and the
fall-back to per-process limits while Redis is away."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.errors import InvalidArgument, ResourceExhausted
from services.common.ratelimit import Limit, LocalBuckets, RateLimiter, RedisBuckets, parse_limits
from testsupport.processes import RedisServer
from testsupport.serverproc import server_process
from testsupport.why import WHY
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

BY_HOLDER = "/yihao.v1.Verifier/VerifyByHolder"
BY_NUMBER = "/yihao.v1.Verifier/VerifyLicence"


def test_local_bucket_grants_the_burst_then_refuses_with_a_wait():
    limiter = RateLimiter(LocalBuckets(), {**parse_limits(None), "verify_by_holder": Limit(1, 3)})
    for _ in range(3):
        limiter.check(BY_HOLDER, "A")
    with pytest.raises(ResourceExhausted) as caught:
        limiter.check(BY_HOLDER, "A")
    assert 0 < caught.value.retry_after <= 1.0
    limiter.check(BY_HOLDER, "B")  # per department
    limiter.check(BY_NUMBER, "A")  # per kind of call


def test_verification_by_holder_is_tighter_than_by_number():
    limits = parse_limits(None)
    assert limits["verify_by_holder"].rate * 10 <= limits["verify"].rate


def test_bad_limit_configuration_is_named():
    with pytest.raises(InvalidArgument) as caught:
        parse_limits('{"verify": [0, 1]}')
    assert caught.value.violations[0].field == "YIHAO_RATE_LIMITS"
    with pytest.raises(InvalidArgument):
        parse_limits('{"nonsense": [1, 1]}')


def test_redis_buckets_are_shared_and_fall_back_when_redis_goes(redis_server: RedisServer):
    a, b = RedisBuckets(redis_server.url), RedisBuckets(redis_server.url)
    limit = Limit(0.001, 4)
    key = f"k{time.time_ns()}"
    granted = [(a if i % 2 else b).take(key, limit) == 0 for i in range(8)]
    assert granted == [True] * 4 + [False] * 4
    dead = RedisBuckets("redis://127.0.0.1:1/0")  # nothing listens there
    assert dead.take("x", Limit(1, 2)) == 0  # degrades to the local bucket, never fails


def _verify_by_holder(stub: vgrpc.VerifierStub) -> grpc.RpcError | None:
    try:
        stub.VerifyByHolder(vpb.VerifyByHolderRequest(**WHY, holder_number="91350100M000100Y43"))
    except grpc.RpcError as exc:
        return exc
    return None


def test_limits_hold_across_two_server_processes_sharing_redis(redis_server: RedisServer):
    env = {
        "REDIS_URL": redis_server.url,
        "YIHAO_RATE_LIMITS": json.dumps({"verify_by_holder": [0.01, 5]}),
    }
    with server_process(None, **env) as one, server_process(None, **env) as two:
        stubs = [vgrpc.VerifierStub(s.channel("hall")) for s in (one, two)]
        errors = [_verify_by_holder(stubs[i % 2]) for i in range(10)]
    assert [e is None for e in errors] == [True] * 5 + [False] * 5
    refused = errors[-1]
    assert refused is not None and refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(refused)
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert retry, "RESOURCE_EXHAUSTED carries google.rpc.RetryInfo"
