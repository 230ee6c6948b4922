"""The counter desk's view models: verdict tones, check lines, receipts, field errors."""

from __future__ import annotations

from clients.web.viewmodels_counter import (
    field_errors,
    licence_input_kind,
    receipt_view,
    verdict_view,
)
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import FieldViolation


def test_what_was_typed_or_scanned_is_told_apart() -> None:
    assert licence_input_kind("YH1.abc.def") == "qr"
    assert licence_input_kind(" 1.2.156.3005.2.111.x ") == "id"
    assert licence_input_kind("11100000000013338W011:350100-2026-0001") == "pair"
    for bad in ("", "350100-2026-0001", ":x", "x:"):
        assert licence_input_kind(bad) == "bad"


def test_a_refused_holder_match_on_a_valid_licence_is_not_green() -> None:
    v = vpb.Verification(
        verdict=vpb.VERDICT_VALID,
        licence_id="x",
        holder_number_match=vpb.HOLDER_MATCH_REFUSED,
        holder_name_match=vpb.HOLDER_MATCH_NOT_PRESENTED,
    )
    view = verdict_view(v)
    assert view.tone == "mismatch"
    assert {c.key: c.state for c in view.checks}["holder_number"] == "unknown"


def test_an_expired_qr_code_says_to_refresh_it() -> None:
    view = verdict_view(vpb.Verification(verdict=vpb.VERDICT_CANNOT_CHECK, reason="QR_EXPIRED"))
    assert view.tone == "cannot" and "刷新" in view.advice.zh
    assert all(c.state != "pass" for c in view.checks)


def test_an_unspecified_verdict_is_never_shown_as_valid() -> None:
    assert verdict_view(vpb.Verification()).tone == "cannot"


def test_expired_fails_validity_but_not_status() -> None:
    v = vpb.Verification(
        verdict=vpb.VERDICT_EXPIRED,
        licence_id="x",
        valid_from="2020-01-01",
        valid_until="2021-01-01",
        policy=vpb.Policy(checks=["validity_dates"]),
    )
    states = {c.key: c.state for c in verdict_view(v).checks}
    assert states["validity"] == "fail" and states["status"] == "pass"


def test_service_violations_land_beside_the_forms_fields() -> None:
    errors = field_errors(
        [
            FieldViolation("licence.type_and_number.licence_number", "too long", "TOO_LONG"),
            FieldViolation("case_number", "is required", "REQUIRED"),
            FieldViolation("something.else", "odd", "X"),
        ]
    )
    assert set(errors) == {"licence", "case_number", "_form"}
    assert errors["case_number"].zh.startswith("必填") and "case_number" in errors["case_number"].en


def test_a_receipt_with_a_body_that_is_not_json_still_renders() -> None:
    check = vpb.ReceiptCheck(authentic=False, reason="BODY", receipt=vpb.Receipt(receipt_id="R"))
    check.receipt.body_json = "{not json"
    view = receipt_view(check)
    assert view["answers"] == [] and view["authentic"] is False
