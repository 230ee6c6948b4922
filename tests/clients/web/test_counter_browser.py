"""The counter desk in a real headless Chromium against the real gRPC stack: a handler verifies
VALID, REVOKED and a holder MISMATCH; scans a QR payload (typed + Enter, as a barcode scanner
does); sees CANNOT_CHECK for an altered QR code, unlike VALID and NOT_FOUND; opens the
printable receipt; scans with a (fake) camera; works the desk by keyboard alone; and axe-core
finds no serious or critical accessibility violation on the desk or the receipt. Screenshots
go to docs/screenshots/."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import segno

from services.licence_store import demo
from testsupport import availability
from testsupport.browser import CHROMIUM_ARGS, screenshot
from testsupport.samples import BUSINESS_FIELDS
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

pytestmark = pytest.mark.browser

HOLDER = "91350100M000100Y43"
OTHER_HOLDER = "91110000600037341L"
HOLDER_NAME = "福州示例科技有限公司"


def _issue(live_desk: Any) -> pb.Licence:
    """A business licence issued by the market regulator through the real services."""
    number = f"350100-2026-{uuid.uuid4().hex[:8]}"
    return live_desk.stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=uuid.uuid4().hex,
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=number,
            holder=common_pb2.Holder(number=HOLDER, name=HOLDER_NAME),
            fields=BUSINESS_FIELDS,
        )
    )


def _ref(licence: pb.Licence) -> str:
    return f"{licence.type_code}:{licence.licence_number}"


def _sign_in(page: Any) -> None:
    page.goto("/signin?next=/counter")
    page.fill("#f-account", "handler")
    page.fill("#f-password", "handler-password")
    page.press("#f-password", "Enter")
    page.wait_for_url(re.compile(r"/counter$"))


def _verify(page: Any, licence: str, number: str = "", name: str = "") -> None:
    page.fill("#f-licence", licence)
    page.fill("#f-holder_number", number)
    page.fill("#f-holder_name", name)
    with page.expect_navigation():
        page.press("#f-licence", "Enter")


def _verdict(page: Any) -> tuple[str, str]:
    box = page.locator("#verdict")
    return box.get_attribute("data-verdict"), box.get_attribute("data-tone")


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def _axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page (vendored, loaded from the desk
    so the CSP allows it)."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_valid_then_mismatch_with_screenshots(page, live_desk) -> None:
    licence = _issue(live_desk)
    _sign_in(page)
    assert _focused(page) == "f-licence"
    _verify(page, _ref(licence), HOLDER, HOLDER_NAME)
    assert _verdict(page) == ("valid", "ok")
    assert "有效" in page.inner_text("#verdict-title")
    states = page.eval_on_selector_all(
        "#verdict .check", "els => els.map(e => [e.dataset.check, e.dataset.state])"
    )
    assert states == [
        ["issuer", "pass"],
        ["signature", "pass"],
        ["status", "pass"],
        ["validity", "pass"],
        ["holder_number", "pass"],
        ["holder_name", "pass"],
    ]
    assert re.fullmatch(r"R\w+", page.inner_text("#receipt-id"))
    assert _focused(page) == "f-licence"  # ready for the next scan
    screenshot(page, "desk-counter-valid")

    _verify(page, _ref(licence), OTHER_HOLDER, HOLDER_NAME)
    assert _verdict(page) == ("valid", "mismatch")
    assert "持证人不一致" in page.inner_text("#verdict-title")
    assert page.get_attribute('[data-check="holder_number"]', "data-state") == "fail"
    assert HOLDER not in page.inner_text("main")  # the stored holder is never revealed
    background = page.eval_on_selector("#verdict-title", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(164, 22, 26)"  # red, not green
    screenshot(page, "desk-counter-mismatch")
    assert page.csp_violations == []


def test_revoked_and_not_found(page, live_desk) -> None:
    licence = _issue(live_desk)
    live_desk.stack.store("market").RevokeLicence(
        pb.StatusChangeRequest(
            idempotency_key=uuid.uuid4().hex,
            licence=pb.LicenceRef(licence_id=licence.licence_id),
            reason_code="FRAUD",
            reason_text="提交虚假材料取得登记",
        )
    )
    _sign_in(page)
    _verify(page, _ref(licence), HOLDER)
    assert _verdict(page) == ("revoked", "bad")
    assert "吊销" in page.inner_text("#verdict-title")
    assert page.get_attribute('[data-check="status"]', "data-state") == "fail"
    _verify(page, f"{licence.type_code}:NO-SUCH-{uuid.uuid4().hex[:6]}")
    assert _verdict(page) == ("not_found", "unknown")


def test_scan_path_cannot_check_and_the_receipt(page, live_desk) -> None:
    licence = _issue(live_desk)
    qr = live_desk.stack.verifier("market").IssueQrPayload(
        vpb.IssueQrPayloadRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id), ttl_seconds=600
        )
    )
    _sign_in(page)
    # A barcode scanner types the payload into the focused field and presses Enter.
    page.keyboard.type(qr.payload)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _verdict(page) == ("valid", "ok")
    assert licence.licence_number in page.inner_text("#verdict")
    assert _focused(page) == "f-licence"
    valid_border = page.eval_on_selector("#verdict", "e => getComputedStyle(e).borderTopStyle")

    prefix, body, signature = qr.payload.split(".")
    altered = "B" if signature[10] == "A" else "A"
    forged = f"{prefix}.{body}.{signature[:10]}{altered}{signature[11:]}"
    page.keyboard.type(forged)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _verdict(page) == ("cannot_check", "cannot")
    assert "无法核验" in page.inner_text("#verdict-title")
    assert "二维码签名无效" in page.inner_text("#advice")  # says what to do
    cannot_border = page.eval_on_selector("#verdict", "e => getComputedStyle(e).borderTopStyle")
    assert (valid_border, cannot_border) == ("solid", "dashed")
    assert page.locator('#verdict [data-state="pass"]').count() == 0
    assert _axe(page) == []  # the amber, striped card keeps its contrast

    page.goto("/counter")
    _verify(page, _ref(licence), HOLDER, HOLDER_NAME)
    receipt_id = page.inner_text("#receipt-id")
    page.click("#receipt-link")
    page.wait_for_url(re.compile(rf"/counter/receipts/{receipt_id}$"))
    assert page.inner_text("#receipt-id") == receipt_id
    assert "回执签名真实有效" in page.inner_text("#receipt-authentic")
    assert page.inner_text("#receipt-staff") == "handler"  # the signed-in staff member
    assert page.locator("svg.qr").count() == 1
    receipt = page.inner_text("main")
    assert HOLDER not in receipt and HOLDER_NAME not in receipt  # presented, then masked
    page.emulate_media(media="print")
    assert not page.is_visible("header.top") and not page.is_visible("#print")
    page.emulate_media(media="screen")
    screenshot(page, "desk-receipt")
    assert _axe(page) == []
    assert page.csp_violations == []


def test_keyboard_only(page, live_desk) -> None:
    licence = _issue(live_desk)
    _sign_in(page)
    assert _focused(page) == "f-licence"
    page.keyboard.type(_ref(licence))
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(_focused(page))
        if order[-1] == "verify":
            break
    fields = [f for f in order if f != "scan-camera"]  # shown when the browser has a camera
    assert fields == ["f-holder_number", "f-holder_name", "f-purpose", "f-case_number", "verify"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert _focused(page) == "f-holder_number"
    page.keyboard.type(HOLDER)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in any field submits
    assert _verdict(page) == ("valid", "ok")
    assert _focused(page) == "f-licence"
    assert _axe(page) == []


def test_materials_and_holder_screens_answer(page, live_desk) -> None:
    _issue(live_desk)
    _sign_in(page)
    page.goto("/counter/holder")
    page.fill("#f-holder_number", HOLDER)
    page.check(f'input[name=types][value="{demo.BUSINESS_LICENCE.type_code}"]')
    with page.expect_navigation():
        page.click("#verify")
    assert page.locator('tr[data-verdict="valid"]').count() >= 1
    assert _axe(page) == []
    page.goto("/counter/materials")
    page.select_option("#f-item", index=1)
    page.fill("#f-holder_number", HOLDER)
    with page.expect_navigation():
        page.click("#check")
    assert page.locator("#exempt-count").count() == 1
    assert _axe(page) == []


def _y4m(text: str, path: Path, width: int = 640, height: int = 480) -> None:
    """A still video (Y4M, 4:2:0) of ``text`` as a QR code, for Chromium's fake camera."""
    rows = [list(row) for row in segno.make(text, error="m").matrix_iter(scale=5, border=4)]
    top, left = (height - len(rows)) // 2, (width - len(rows[0])) // 2
    luma = bytearray([235]) * (width * height)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                luma[(top + y) * width + left + x] = 16
    chroma = bytes([128]) * (width // 2 * height // 2)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)


def test_camera_scan_fills_the_field_and_verifies(chromium, live_desk, tmp_path) -> None:
    """The camera path for real: Chromium's fake camera shows a QR code, jsQR decodes it."""
    licence = _issue(live_desk)
    qr = live_desk.stack.verifier("market").IssueQrPayload(
        vpb.IssueQrPayloadRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id), ttl_seconds=600
        )
    )
    video = tmp_path / "qr.y4m"
    _y4m(qr.payload, video)
    camera_args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    browser = chromium.browser_type.launch(
        executable_path=str(availability.require(availability.CHROMIUM)),
        headless=True,
        args=[*CHROMIUM_ARGS, *camera_args],
    )
    try:
        context = browser.new_context(
            base_url=live_desk.url, viewport={"width": 1280, "height": 800}, locale="zh-CN"
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page)
        assert page.is_visible("#scan-camera")
        with page.expect_navigation():
            page.click("#scan-camera")
        assert _verdict(page) == ("valid", "ok")
        assert licence.licence_number in page.inner_text("#verdict")
    finally:
        browser.close()


def test_the_services_errors_sit_beside_their_fields_and_a_tablet_fits(page, live_desk) -> None:
    _sign_in(page)
    page.goto("/counter/holder")
    page.fill("#f-holder_number", "11010519491231002X")  # a citizen: purpose and case needed
    page.check('input[name=types][value="11100000000013338W009"]')
    with page.expect_navigation():
        page.click("#verify")
    assert "purpose: is required to read a person's data" in page.inner_text("#e-purpose")
    assert "case_number: is required" in page.inner_text("#e-case_number")
    assert page.get_attribute("#f-purpose", "aria-invalid") == "true"
    assert _focused(page) == "f-purpose"  # the first field in error
    assert page.input_value("#f-holder_number") == "11010519491231002X"  # kept to correct
    page.fill("#f-purpose", "居住证签注")
    page.fill("#f-case_number", "ZW-2026-1204-07")
    with page.expect_navigation():
        page.click("#verify")
    assert page.locator("#e-purpose").count() == 0 and page.locator("#result").count() == 1

    page.goto("/counter/document")
    assert _axe(page) == []
    page.set_viewport_size({"width": 768, "height": 1024})  # a tablet, upright
    page.goto("/counter")
    overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False
    assert page.is_visible("#f-licence") and page.is_visible("#verify")
    assert page.csp_violations == []


def test_the_same_form_sent_twice_verifies_once(page, live_desk) -> None:
    """A double submission (the same form, key and all, posted twice through the real desk
    and services) gets the first verification's page back: one receipt, not two."""
    licence = _issue(live_desk)
    _sign_in(page)
    html = page.content()
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),  # type: ignore[union-attr]
        "idempotency_key": page.get_attribute("input[name=idempotency_key]", "value"),
        "licence": _ref(licence),
        "holder_number": HOLDER,
        "holder_name": "",
        "purpose": "",
        "case_number": "",
    }
    receipts = []
    for _ in range(2):
        response = page.request.post("/counter", form=form)
        assert response.status == 200
        text = response.text()
        receipts.append(re.search(r'id="receipt-id">(R\w+)<', text).group(1))  # type: ignore[union-attr]
    assert receipts[0] == receipts[1]
    assert 'id="replayed"' in text
