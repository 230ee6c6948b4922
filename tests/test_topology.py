"""The production topology on one machine: PostgreSQL, Redis, one licence-store process, two
verifier processes and one assistance process, each hosting only its service, all on
127.0.0.1 — a scenario across them, then everything shut down."""

from __future__ import annotations

import base64
import json
import os
from contextlib import ExitStack

import grpc
import pytest

from services.licence_store import demo
from testsupport.processes import PostgresServer, RedisServer
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import server_process
from testsupport.why import WHY
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as agrpc
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

COMPANY = "91350100M000100Y43"


def test_scenario_across_separate_service_processes(
    postgres: PostgresServer, redis_server: RedisServer, tmp_path
):
    url = postgres.create_database("topology")
    keys = json.dumps(
        {
            "current": "k1",
            "keys": {"k1": base64.b64encode(os.urandom(32)).decode()},
            "index_key": base64.b64encode(os.urandom(32)).decode(),
        }
    )
    shared = {"REDIS_URL": redis_server.url, "YIHAO_MASTER_KEYS": keys}
    var = tmp_path / "var"  # one PKI (one CA) for the whole deployment
    with ExitStack() as stack:
        store = stack.enter_context(
            server_process(url, var_dir=var, YIHAO_SERVICES="licence_store", **shared)
        )
        verifiers = [
            stack.enter_context(
                server_process(url, var_dir=var, YIHAO_SERVICES="verifier", **shared)
            )
            for _ in range(2)
        ]
        assist = stack.enter_context(
            server_process(url, var_dir=var, YIHAO_SERVICES="assistance", **shared)
        )
        # Each process serves only its own service.
        with pytest.raises(grpc.RpcError) as caught:
            vgrpc.VerifierStub(store.channel("hall")).GetTreeHead(vpb.GetTreeHeadRequest())
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED

        licence = store.store("market").IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key="topology-0001",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number="TOPO-1",
                holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
                fields=BUSINESS_FIELDS,
            )
        )
        ref = pb.LicenceRef(licence_id=licence.licence_id)
        first = vgrpc.VerifierStub(verifiers[0].channel("hall")).VerifyLicence(
            vpb.VerifyLicenceRequest(**WHY, licence=ref, presented_holder_number=COMPANY)
        )
        assert (first.verdict, first.holder_number_match) == (
            vpb.VERDICT_VALID,
            vpb.HOLDER_MATCH_MATCH,
        )
        store.store("market").RevokeLicence(
            pb.StatusChangeRequest(licence=ref, reason_code="FRAUD")
        )
        second = vgrpc.VerifierStub(verifiers[1].channel("hall")).VerifyLicence(
            vpb.VerifyLicenceRequest(licence=ref)
        )
        assert second.verdict == vpb.VERDICT_REVOKED
        receipt = vgrpc.VerifierStub(verifiers[0].channel("supervision")).VerifyReceipt(
            vpb.GetReceiptRequest(receipt_id=second.receipt_id)  # written by the other process
        )
        assert receipt.authentic

        answered = agrpc.AssistanceStub(assist.channel("housing")).SubmitRequest(
            apb.SubmitRequestRequest(
                case_number="TEST-2026-0001",
                idempotency_key="topology-assist-1",
                item_code="XZXZ-SC-001",
                holder_number=COMPANY,
                purpose="住房保障审核",
                requested_fields=["holder_name", "status"],
            )
        )
        assert answered.status == apb.REQUEST_STATUS_ANSWERED
        assert dict(answered.answer) == {
            "result": "FOUND",
            "holder_name": "福州示例科技有限公司",
            "status": "revoked",
        }
    # every process has been shut down by now (SIGTERM, drained)
