"""No full citizen ID number from the test data appears in any log line of a real server."""

from __future__ import annotations

import contextlib
import json
import logging
import re

import grpc

from services.common.logmask import MaskingFilter, mask_text
from services.licence_store import demo
from testsupport.serverproc import server_process
from testsupport.why import WHY
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as agrpc
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
PEOPLE = ["11010519491231002X", "360426199101010071", "320106198707105231", "51010719990228004X"]


def test_mask_text():
    assert mask_text("holder 11010519491231002X read") == "holder 110105********002X read"
    assert mask_text("legacy 110105491231002") == "legacy 110105******002"
    assert mask_text("x11010519491231002Xy") == "x11010519491231002Xy"  # not a token
    assert mask_text("company 914403001922038216") == "company 914403001922038216"  # public


def test_filter_masks_arguments_and_exceptions(caplog):
    logger = logging.getLogger("test.masking")
    logger.addFilter(MaskingFilter())
    try:
        raise ValueError("bad number 360426199101010071")
    except ValueError:
        logger.exception("while handling %s", "11010519491231002X")
    text = caplog.text
    assert "360426199101010071" not in text and "11010519491231002X" not in text
    assert "110105********002X" in text


def _exercise(server) -> None:
    store = server.store("police")
    for i, person in enumerate(PEOPLE):
        store.IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key=f"log-scan-{i:04d}",
                type_code=demo.RESIDENCE_PERMIT.type_code,
                licence_number=f"LOG-{i}",
                holder=common.Holder(number=person, name="张三"),
                fields={
                    "sex": "男",
                    "domicile": f"户籍 {person}",
                    "residence_address": "福州",
                    "issuing_office": "台江分局",
                },
            )
        )
        vgrpc.VerifierStub(server.channel("hall")).VerifyByHolder(
            vpb.VerifyByHolderRequest(
                holder_number=person, purpose=f"核查 {person}", case_number=f"案 {person}"
            )
        )
        agrpc.AssistanceStub(server.channel("hrss")).SubmitRequest(
            apb.SubmitRequestRequest(
                idempotency_key=f"log-scan-req-{i}",
                item_code="XZXZ-GA-001",
                holder_number=person,
                purpose="审查",
                legal_basis="依据",
                case_number=person,
            )
        )
    for bad in (PEOPLE[0][:-1] + "1", PEOPLE[1][:10]):
        with contextlib.suppress(grpc.RpcError):
            store.ListLicencesByHolder(pb.ListLicencesByHolderRequest(**WHY, holder_number=bad))


def test_server_logs_never_hold_a_full_id_number(tmp_path):
    log_file = tmp_path / "server.log"
    with server_process(None, log_file=log_file, YIHAO_LOG_LEVEL="DEBUG") as server:
        _exercise(server)
    text = log_file.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG" in text or "INFO" in text, "the server logged nothing: the scan proves nothing"
    for person in PEOPLE:
        assert person not in text
        assert person[:6] + person[8:17] not in text  # nor its legacy 15-digit form


def test_json_log_lines_are_json_and_masked(tmp_path):
    log_file = tmp_path / "server.log"
    with server_process(
        None, log_file=log_file, YIHAO_LOG_LEVEL="DEBUG", YIHAO_LOG_FORMAT="json"
    ) as server:
        _exercise(server)
    lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records, "the server logged nothing: the scan proves nothing"
    assert not [line for line in lines if TEXT_LINE.match(line)], "a plain-text log line"
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= set(record)
    text = "\n".join(lines)
    for person in PEOPLE:
        assert person not in text
        assert person[:6] + person[8:17] not in text
