"""Redis goes away mid-run: answers stay correct, rate limits hold per process meanwhile,
and sharing resumes by itself when Redis is back."""

from __future__ import annotations

import base64
import json
import os
import time

import grpc

from services.common.ratelimit import REDIS_RETRY_SECONDS
from services.licence_store import demo
from testsupport import availability
from testsupport.processes import PostgresServer, RedisServer
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import server_process
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc


def _by_holder(stub: vgrpc.VerifierStub) -> bool:
    try:
        stub.VerifyByHolder(vpb.VerifyByHolderRequest(**WHY, holder_number="91110000600037341L"))
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        return False
    return True


def test_redis_outage(postgres: PostgresServer, tmp_path):
    availability.require(availability.REDIS)  # its own server: this test stops and starts it
    redis = RedisServer().start()
    url = postgres.create_database("redis_outage")
    keys = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(os.urandom(32)).decode()}})
    env = {
        "REDIS_URL": redis.url,
        "YIHAO_MASTER_KEYS": keys,
        "YIHAO_RATE_LIMITS": json.dumps({"verify_by_holder": [0.001, 6]}),
    }
    try:
        with server_process(url, **env) as a, server_process(url, **env) as b:
            stubs = [vgrpc.VerifierStub(s.channel("hall")) for s in (a, b)]
            assert [_by_holder(stubs[i % 2]) for i in range(4)] == [True] * 4  # shared: 2 left

            redis.stop()
            licence = a.store("market").IssueLicence(
                pb.IssueLicenceRequest(
                    idempotency_key="redis-outage-1",
                    type_code=demo.BUSINESS_LICENCE.type_code,
                    licence_number="RO-1",
                    holder=common.Holder(number="91350100M000100Y43", name="示例"),
                    fields=BUSINESS_FIELDS,
                )
            )
            ref = pb.LicenceRef(licence_id=licence.licence_id)
            a.store("market").RevokeLicence(
                pb.StatusChangeRequest(licence=ref, reason_code="FRAUD")
            )
            for stub in stubs:  # correct answers without Redis: revoked is never VALID
                assert stub.VerifyLicence(vpb.VerifyLicenceRequest(licence=ref)).verdict == (
                    vpb.VERDICT_REVOKED
                )
            # Limits still hold, per process: each has its own full bucket of 6.
            outage = [_by_holder(stubs[i % 2]) for i in range(14)]
            assert outage == [True] * 12 + [False] * 2

            redis.start()  # back, empty
            time.sleep(REDIS_RETRY_SECONDS + 0.5)
            shared = [_by_holder(stubs[i % 2]) for i in range(8)]
            assert shared == [True] * 6 + [False] * 2  # one shared bucket again
    finally:
        redis.stop()
