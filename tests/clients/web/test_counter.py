"""The counter desk (窗口核验) through Starlette's TestClient and a fake of the services: what
it sends, what it shows, form errors by field, acting once per form, the services down."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.protobuf import json_format
from starlette.testclient import TestClient

from tests.clients.web.conftest import FakeBackend, FakeClient, csrf_of, sign_in
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import FieldViolation, InvalidArgument, NotFound, Unavailable

LICENCE = "11100000000013338W011:350100-2026-0001"
HOLDER = "91350100M000100Y43"
_KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')


def verification(verdict: int = vpb.VERDICT_VALID, **fields: Any) -> vpb.Verification:
    base: dict[str, Any] = {
        "verdict": verdict,
        "reason": "ALL_CHECKS_PASSED",
        "holder_number_match": vpb.HOLDER_MATCH_NOT_PRESENTED,
        "holder_name_match": vpb.HOLDER_MATCH_NOT_PRESENTED,
        "licence_id": "1.2.156.3005.2.11100000000013338W011.X.Y.001.H",
        "type_code": "11100000000013338W011",
        "type_name": "营业执照",
        "licence_number": "350100-2026-0001",
        "issuer_code": "1135010052601815X2",
        "issuer_name": "福州市市场监督管理局",
        "valid_from": "2026-12-04",
        "version": 1,
        "signature_verified": True,
        "signature_key_id": "key-1",
        "policy": vpb.Policy(checks=["status", "validity_dates", "signature"]),
        "receipt_id": "R2026120422211600000000000000001",
    }
    base.update(fields)
    return vpb.Verification(**base)


@dataclass
class CounterClient(FakeClient):
    """The verifier's calls the counter desk makes, recorded; answers set by the test."""

    def _answer(self, name: str, kwargs: dict[str, Any]) -> Any:
        backend: CounterBackend = self.backend  # type: ignore[assignment]
        if backend.fail is not None:
            raise backend.fail
        backend.sent.append((name, kwargs))
        return backend.answers[name]

    def verify_licence(self, **kwargs: Any) -> vpb.Verification:
        return self._answer("verify_licence", kwargs)

    def verify_document(self, **kwargs: Any) -> vpb.Verification:
        return self._answer("verify_document", kwargs)

    def verify_by_holder(self, **kwargs: Any) -> vpb.VerifyByHolderResponse:
        return self._answer("verify_by_holder", kwargs)

    def check_materials(self, **kwargs: Any) -> vpb.MaterialsCheck:
        return self._answer("check_materials", kwargs)

    def verify_receipt(self, **kwargs: Any) -> vpb.ReceiptCheck:
        return self._answer("verify_receipt", kwargs)

    def all_licence_types(self, **_: Any) -> list[pb.LicenceType]:
        return [pb.LicenceType(type_code="11100000000013338W011", name="营业执照")]

    def list_service_items(self, **_: Any) -> vpb.ListServiceItemsResponse:
        return vpb.ListServiceItemsResponse(
            items=[vpb.ServiceItem(code="FZ-SC-0003", name="食品经营许可申请")]
        )


@dataclass
class CounterBackend(FakeBackend):
    answers: dict[str, Any] = field(default_factory=dict)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def client(self, account: Any) -> CounterClient:  # type: ignore[override]
        return CounterClient(self)


@pytest.fixture
def backend() -> CounterBackend:
    return CounterBackend(answers={"verify_licence": verification()})


def _form(client: TestClient, path: str = "/counter") -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200
    key = _KEY.search(page.text)
    assert key is not None
    return {"csrf_token": csrf_of(page.text), "idempotency_key": key.group(1)}


def _verify(client: TestClient, **fields: str) -> Any:
    return client.post("/counter", data={**_form(client), **fields})


def test_a_valid_licence_shows_the_verdict_each_check_and_the_receipt(desk_client, backend):
    sign_in(desk_client, "handler")
    backend.answers["verify_licence"] = verification(
        holder_number_match=vpb.HOLDER_MATCH_MATCH, holder_name_match=vpb.HOLDER_MATCH_MATCH
    )
    response = _verify(
        desk_client, licence=LICENCE, holder_number=HOLDER, holder_name="福州示例科技有限公司"
    )
    assert response.status_code == 200
    text = response.text
    assert 'data-verdict="valid"' in text and 'data-tone="ok"' in text
    assert "有效" in text and "VALID" in text
    for check in ("issuer", "signature", "status", "validity", "holder_number", "holder_name"):
        assert f'data-check="{check}" data-state="pass"' in text, check
    assert 'href="/counter/receipts/R2026120422211600000000000000001"' in text
    name, sent = backend.sent[0]
    assert name == "verify_licence"
    assert sent["licence"] == LICENCE and sent["presented_holder_number"] == HOLDER
    assert HOLDER not in text  # the form is cleared for the next applicant
    assert 'id="f-licence" name="licence" type="text" value=""' in text


def test_a_holder_mismatch_on_a_valid_licence_is_red_not_green(desk_client, backend):
    sign_in(desk_client, "handler")
    backend.answers["verify_licence"] = verification(holder_number_match=vpb.HOLDER_MATCH_MISMATCH)
    text = _verify(desk_client, licence=LICENCE, holder_number="91110000600037341L").text
    assert 'data-tone="mismatch"' in text and "持证人不一致" in text
    assert 'data-check="holder_number" data-state="fail"' in text


@pytest.mark.parametrize(
    ("verdict", "reason", "tone", "words"),
    [
        (vpb.VERDICT_REVOKED, "STATUS_REVOKED", "bad", "吊销"),
        (vpb.VERDICT_NOT_FOUND, "LICENCE_NOT_FOUND", "unknown", "查无此证"),
        (vpb.VERDICT_CANNOT_CHECK, "QR_SIGNATURE_INVALID", "cannot", "二维码签名无效"),
        (vpb.VERDICT_CANNOT_CHECK, "STORE_UNREACHABLE", "cannot", "无法核验：系统未能确认"),
    ],
)
def test_each_kind_of_verdict_looks_different_and_says_what_to_do(
    desk_client, backend, verdict, reason, tone, words
):
    sign_in(desk_client, "handler")
    found = verdict != vpb.VERDICT_NOT_FOUND
    backend.answers["verify_licence"] = verification(
        verdict,
        reason=reason,
        licence_id="1.2.156.3005.2.x" if found else "",
        signature_verified=verdict == vpb.VERDICT_REVOKED,
        issuer_code="1135010052601815X2" if verdict == vpb.VERDICT_REVOKED else "",
    )
    text = _verify(desk_client, licence=LICENCE).text
    assert f'data-tone="{tone}"' in text and words in text
    if tone == "cannot":
        assert 'data-check="status" data-state="unknown"' in text  # never "passed"
        assert 'data-state="pass"' not in text


def test_a_scanned_qr_payload_goes_to_verify_document(desk_client, backend):
    sign_in(desk_client, "handler")
    backend.answers["verify_document"] = verification(document_authentic=True)
    text = _verify(desk_client, licence="YH1.eyJsaWQiOiJ4In0.c2ln").text
    assert backend.sent == [
        (
            "verify_document",
            {
                "qr_payload": "YH1.eyJsaWQiOiJ4In0.c2ln",
                "presented_holder_number": "",
                "presented_holder_name": "",
                "purpose": "",
                "case_number": "",
            },
        )
    ]
    assert 'data-verdict="valid"' in text


@pytest.mark.parametrize(
    ("fields", "field_name", "words"),
    [
        ({"licence": ""}, "licence", "证照编号：必填"),
        ({"licence": "just-a-number"}, "licence", "must be TYPE_CODE:NUMBER"),
        ({"licence": LICENCE, "holder_name": "名" * 201}, "holder_name", "at most 200"),
    ],
)
def test_a_bad_form_names_the_field_and_the_rule_and_calls_nothing(
    desk_client, backend, fields, field_name, words
):
    sign_in(desk_client, "handler")
    response = _verify(desk_client, **fields)
    assert response.status_code == 400
    assert f'id="e-{field_name}"' in response.text and words in response.text
    assert backend.sent == []


def test_the_services_field_violations_are_shown_beside_the_fields(desk_client, backend):
    sign_in(desk_client, "handler")
    page = desk_client.get("/counter")
    backend.fail = InvalidArgument(
        "2 invalid fields",
        violations=[
            FieldViolation("purpose", "is required to read a person's data", "PURPOSE_REQUIRED"),
            FieldViolation("presented_holder_number", "check character is wrong", "CHECK"),
        ],
    )
    form = {
        "csrf_token": csrf_of(page.text),
        "idempotency_key": _KEY.search(page.text).group(1),  # type: ignore[union-attr]
        "licence": LICENCE,
        "holder_number": "11010519491231002Y",
    }
    response = desk_client.post("/counter", data=form)
    assert response.status_code == 400
    assert 'id="e-purpose"' in response.text and "须说明查询目的" in response.text
    assert 'id="e-holder_number"' in response.text and "check character" in response.text
    assert 'value="11010519491231002Y"' in response.text  # what was typed is kept


def test_a_double_submission_verifies_once_and_shows_the_first_receipt(desk_client, backend):
    sign_in(desk_client, "handler")
    form = {**_form(desk_client), "licence": LICENCE}
    first = desk_client.post("/counter", data=form)
    backend.answers["verify_licence"] = verification(receipt_id="R-SECOND")
    second = desk_client.post("/counter", data=form)
    assert first.status_code == second.status_code == 200
    assert len(backend.sent) == 1
    assert "R2026120422211600000000000000001" in second.text and "R-SECOND" not in second.text
    assert 'id="replayed"' in second.text
    third = _verify(desk_client, licence=LICENCE)  # a new form: a new verification
    assert "R-SECOND" in third.text and len(backend.sent) == 2


def test_a_form_without_its_key_is_refused(desk_client, backend):
    sign_in(desk_client, "handler")
    form = _form(desk_client)
    del form["idempotency_key"]
    response = desk_client.post("/counter", data={**form, "licence": LICENCE})
    assert response.status_code == 400 and "idempotency_key" in response.text
    assert backend.sent == []


def test_services_down_is_a_clear_page_and_the_form_works_again_after(desk_client, backend):
    sign_in(desk_client, "handler")
    form = {**_form(desk_client), "licence": LICENCE}
    backend.fail = Unavailable("down")
    response = desk_client.post("/counter", data=form)
    assert response.status_code == 503 and "服务暂时不可用" in response.text
    assert "Traceback" not in response.text
    backend.fail = None
    again = desk_client.post("/counter", data=form)  # the same form, once they are back
    assert again.status_code == 200 and 'data-verdict="valid"' in again.text


def test_only_handlers_open_the_counter_and_post_to_it(desk_client, backend):
    sign_in(desk_client, "operator")
    assert desk_client.get("/counter").status_code == 403
    page = desk_client.get("/")
    form = {"csrf_token": csrf_of(page.text), "licence": LICENCE}
    assert desk_client.post("/counter", data=form).status_code == 403
    assert backend.sent == []


def test_verify_by_holder_lists_each_licence_with_its_verdict(desk_client, backend):
    sign_in(desk_client, "handler")
    backend.answers["verify_by_holder"] = vpb.VerifyByHolderResponse(
        verifications=[verification(), verification(vpb.VERDICT_REVOKED, receipt_id="R2")]
    )
    form = {**_form(desk_client, "/counter/holder"), "holder_number": HOLDER}
    missing = desk_client.post("/counter/holder", data=form)
    assert missing.status_code == 400 and "证照类型：至少选择一种" in missing.text
    form = {**_form(desk_client, "/counter/holder"), "holder_number": HOLDER}
    response = desk_client.post(
        "/counter/holder", data={**form, "types": ["11100000000013338W011"]}
    )
    assert response.status_code == 200
    assert response.text.count("<tr data-verdict=") == 2
    assert backend.sent[0][1]["type_codes"] == ["11100000000013338W011"]
    assert HOLDER in response.text  # the handler typed it


def test_materials_exemption_shows_what_need_not_be_brought(desk_client, backend):
    sign_in(desk_client, "handler")
    covered = vpb.MaterialCheck(
        material=vpb.Material(name="营业执照", licence_type_code="11100000000013338W011"),
        covered=True,
        verification=verification(),
    )
    bring = vpb.MaterialCheck(
        material=vpb.Material(name="法定代表人身份证明"), reason="NOT_SHAREABLE"
    )
    backend.answers["check_materials"] = vpb.MaterialsCheck(
        item=vpb.ServiceItem(code="FZ-SC-0003", name="食品经营许可申请"),
        materials=[covered, bring],
    )
    bad = desk_client.post(
        "/counter/materials",
        data={**_form(desk_client, "/counter/materials"), "item": "NOPE", "holder_number": HOLDER},
    )
    assert bad.status_code == 400 and "办事事项：须从列表中选择" in bad.text
    form = {**_form(desk_client, "/counter/materials"), "item": "FZ-SC-0003"}
    text = desk_client.post("/counter/materials", data={**form, "holder_number": HOLDER}).text
    assert 'data-covered="yes"' in text and 'data-covered="no"' in text
    assert "免提交 1 项" in text and "R2026120422211600000000000000001" in text


def _document() -> bytes:
    doc = vpb.SignedDocument(
        content_json='{"licence_id":"x"}',
        signature=common_pb2.Signature(key_id="k", algorithm="ed25519", value=b"s"),
        issuer_code="1135010052601815X2",
    )
    return json_format.MessageToJson(doc).encode()


def test_an_uploaded_document_is_checked_and_a_bad_file_named(desk_client, backend):
    sign_in(desk_client, "handler")
    backend.answers["verify_document"] = verification(document_authentic=True)
    form = _form(desk_client, "/counter/document")
    bad = desk_client.post(
        "/counter/document", data=form, files={"document": ("x.json", io.BytesIO(b"not json"))}
    )
    assert bad.status_code == 400 and "电子证照文件：须为导出的电子证照文件" in bad.text
    form = _form(desk_client, "/counter/document")
    good = desk_client.post(
        "/counter/document", data=form, files={"document": ("l.json", io.BytesIO(_document()))}
    )
    assert good.status_code == 200 and 'id="document-authentic"' in good.text
    assert backend.sent[0][1]["signed_document"].issuer_code == "1135010052601815X2"


def test_the_receipt_page_has_a_qr_code_and_masks_presented_numbers(desk_client, backend):
    sign_in(desk_client, "handler")
    body = {
        "answers": [
            {
                "asked": {"licence_number": "350100-2026-0001", "presented_holder_number": HOLDER},
                "verdict": "valid",
                "reason": "ALL_CHECKS_PASSED",
                "holder_number_match": "match",
                "holder_name_match": "not_presented",
                "licence_id": "1.2.156.3005.2.x",
                "version": 1,
                "content_sha256": "ab" * 32,
            }
        ],
        "issued_at": "2026-12-04T14:21:16+00:00",
        "receipt_id": "R1",
        "requester": "11350100786579754C",
        "staff": "handler",
    }
    backend.answers["verify_receipt"] = vpb.ReceiptCheck(
        authentic=True,
        receipt=vpb.Receipt(receipt_id="R1", body_json=json.dumps(body), staff="handler"),
    )
    response = desk_client.get("/counter/receipts/R1")
    assert response.status_code == 200
    assert "<svg" in response.text and 'class="qr"' in response.text
    assert HOLDER not in response.text
    assert "913501********0Y43" in response.text  # masked: first 6 and last 4
    assert "回执签名真实有效" in response.text and 'id="receipt-staff"' in response.text
    assert backend.sent[-1] == ("verify_receipt", {"receipt_id": "R1"})


def test_a_receipt_that_does_not_exist_or_a_bad_id_is_404(desk_client, backend):
    sign_in(desk_client, "handler")
    assert desk_client.get("/counter/receipts/bad%20id").status_code == 404
    backend.fail = NotFound("no receipt")
    assert desk_client.get("/counter/receipts/R404").status_code == 404
