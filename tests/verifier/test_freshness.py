"""Freshness across processes: once RevokeLicence (or Suspend) returns, no verifier process
anywhere answers VALID for that licence.

Two real server processes share one PostgreSQL database, one Redis (rate limits) and one
master key ring, as the processes of a deployment do. Verification reads the licence store on
every call and keeps no licence cache, so there is nothing to invalidate; this test pins that
property down, so a cache added later must keep it.
"""

from __future__ import annotations

import base64
import json
import os

from services.licence_store import demo
from testsupport.processes import PostgresServer, RedisServer
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import server_process
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc


def test_no_process_answers_valid_after_revoke_returns(
    postgres: PostgresServer, redis_server: RedisServer
):
    url = postgres.create_database("freshness")
    keys = json.dumps({"current": "k1", "keys": {"k1": base64.b64encode(os.urandom(32)).decode()}})
    env = {"YIHAO_MASTER_KEYS": keys, "REDIS_URL": redis_server.url}
    with server_process(url, **env) as a, server_process(url, **env) as b:
        verifiers = [vgrpc.VerifierStub(s.channel("hall")) for s in (a, b)]
        for i, (call, code, verdict) in enumerate(
            [
                ("SuspendLicence", "INVESTIGATION", vpb.VERDICT_SUSPENDED),
                ("RevokeLicence", "FRAUD", vpb.VERDICT_REVOKED),
            ]
        ):
            licence = a.store("market").IssueLicence(
                pb.IssueLicenceRequest(
                    idempotency_key=f"freshness-{i}",
                    type_code=demo.BUSINESS_LICENCE.type_code,
                    licence_number=f"FRESH-{i}",
                    holder=common.Holder(number="91350100M000100Y43", name="示例"),
                    fields=BUSINESS_FIELDS,
                )
            )
            request = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
            chunk = vpb.VerifyBatchRequest(items=[request] * 3)
            for _ in range(20):  # warm every path that could hold on to an answer
                assert all(v.VerifyLicence(request).verdict == vpb.VERDICT_VALID for v in verifiers)
                assert all(_batch_verdicts(v, chunk) == {vpb.VERDICT_VALID} for v in verifiers)
            getattr(a.store("market"), call)(
                pb.StatusChangeRequest(licence=request.licence, reason_code=code)
            )
            for v in verifiers:
                assert v.VerifyLicence(request).verdict == verdict
                assert _batch_verdicts(v, chunk) == {verdict}


def _batch_verdicts(verifier: vgrpc.VerifierStub, chunk: vpb.VerifyBatchRequest) -> set[int]:
    return {r.verdict for response in verifier.VerifyBatch(iter([chunk])) for r in response.results}
