"""The yihao command line against a real server (SQLite): the handler's walk-through."""

from __future__ import annotations

import json

import pytest

from clients.assist_commands import request_card
from clients.cli import main
from services.licence_store import demo
from yihao.v1 import assistance_pb2 as apb

REF = f"{demo.BUSINESS_LICENCE.type_code}:350100-2026-0001"
COMPANY = "91350100M000100Y43"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def issue(yihao) -> None:
    code, _, _ = yihao(
        "market",
        "issue",
        "--type",
        demo.BUSINESS_LICENCE.type_code,
        "--number",
        "350100-2026-0001",
        "--holder",
        COMPANY,
        "--holder-name",
        "福州示例科技有限公司",
        "--field",
        "legal_representative=王芳",
        "--field",
        "company_type=有限责任公司",
        "--field",
        "registered_capital=500",
        "--field",
        "established_on=2020-05-22",
        "--field",
        "address=福州市鼓楼区五四路1号",
        "--field",
        "business_scope=软件开发",
    )
    assert code == 0


def test_verify_match_mismatch_revoke_and_receipts(yihao):
    issue(yihao)
    code, out, _ = yihao("hall", "verify", REF, "--holder", COMPANY)
    assert code == 0 and "VALID 有效" in out and "MATCH 一致" in out
    code, out, _ = yihao("hall", "verify", REF, "--holder", "91110000600037341L")
    # The licence is good but not shown to be this applicant's: a script must not take it.
    assert code == 4 and "MISMATCH 不一致" in out
    code, out, _ = yihao("hall", "verify", REF, "--holder-name", "别的公司")
    assert code == 4 and "VALID 有效" in out
    assert yihao("market", "revoke", REF, "--reason", "FRAUD")[0] == 0
    code, out, _ = yihao("hall", "verify", REF, "--holder", COMPANY, json_out=True)
    answer = json.loads(out)
    assert code == 3 and answer["verdict"] == "VERDICT_REVOKED"
    code, out, _ = yihao("supervision", "receipt", answer["receipt_id"])
    assert code == 0 and "AUTHENTIC" in out and "REVOKED" in out


def test_exported_document_online_and_offline(yihao, tmp_path):
    issue(yihao)
    doc, keys = tmp_path / "licence.json", tmp_path / "keys.json"
    assert yihao("market", "export", REF, "-o", str(doc))[0] == 0
    assert yihao("hall", "issuer-keys", "-o", str(keys))[0] == 0
    assert yihao("market", "revoke", REF, "--reason", "VIOLATION")[0] == 0
    code, out, _ = yihao("hall", "verify-document", str(doc))
    assert code == 3 and "REVOKED" in out and "authentic" in out
    code, out, _ = yihao("hall", "verify-document", str(doc), "--offline", "--keys", str(keys))
    assert code == 0 and "AUTHENTIC" in out and "CANNOT_CHECK" in out
    doc.write_text(doc.read_text().replace("500", "5000"))
    code, out, _ = yihao("hall", "verify-document", str(doc), "--offline", "--keys", str(keys))
    assert code == 3 and "NOT AUTHENTIC" in out


def test_materials_and_service_items(yihao):
    issue(yihao)
    code, out, _ = yihao("hall", "materials", "FZ-SC-0003", COMPANY)
    assert code == 0 and "免提交 exempt  营业执照" in out
    code, out, _ = yihao("hall", "service-items")
    assert code == 0 and "FZ-ZJ-0001" in out


def test_staff_is_sent_with_every_call_and_shown_where_read_back(yihao, capsys):
    issue(yihao)
    assert yihao("market", "--staff", "op_7", "revoke", REF, "--reason", "FRAUD")[0] == 0
    code, out, _ = yihao("hall", "--staff", "zhang.san@hall", "verify", REF, json_out=True)
    receipt_id = json.loads(out)["receipt_id"]
    code, out, _ = yihao("supervision", "receipt", receipt_id)
    assert code == 0 and "AUTHENTIC" in out
    assert "经办人 staff" in out and "zhang.san@hall (as the requester says)" in out
    code, out, _ = yihao("market", "watch")
    issued, revoked = out.splitlines()
    assert code == 0 and "op_7" not in issued and revoked.endswith("staff op_7  FRAUD")
    code, out, _ = yihao("portal", "access", COMPANY)
    assert code == 0 and "STAFF" in out and "zhang.san@hall" in out


def test_a_malformed_staff_flag_is_a_usage_error(capsys):
    assert main(["--staff", "张三", "ping"]) == 2
    assert "metadata yihao-staff: a staff account id is 1 to 64" in capsys.readouterr().err


def test_a_request_card_names_the_requesters_staff_only_when_said():
    request = apb.AssistanceRequest(request_id="Q1", requester_code="X", requester_staff="chen.qi")
    assert "经办人 staff" in request_card(request, str)
    assert "chen.qi (as the requester says)" in request_card(request, str)
    assert "经办人" not in request_card(apb.AssistanceRequest(request_id="Q1"), str)
