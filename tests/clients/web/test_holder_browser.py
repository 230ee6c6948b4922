"""The holder's page in a real headless Chromium against the real gRPC stack: a holder signs
in (development sign-in: the one-time code read from the desk's log), sees their licences,
shows one as a QR code that refreshes itself, and a handler at the counter desk types its
payload and gets VALID — and, once it expires, CANNOT_CHECK QR_EXPIRED. The holder grants a
department consent (a grant too long is refused beside its field), the department reads under
it, the use appears in "who used my data" and its inclusion proof checks against the signed
log; the holder revokes it and the next read is refused. Holder and staff sessions do not
reach each other's pages; axe-core finds no serious or critical violation on the holder pages.
Screenshots go to docs/screenshots/ (YIHAO_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from stdnum.cn import uscc

from clients.web.holder_identity import is_credit_code
from services.common.identifiers import HolderKind, mask_holder_number
from services.licence_store import demo
from testsupport.browser import cut_off, screenshot
from testsupport.samples import issue_business_licence
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

pytestmark = pytest.mark.browser

QUALIFICATION = demo.QUALIFICATION_CERTIFICATE.type_code
CASE = "ZJ-2026-0042"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def person_number() -> str:
    """A fresh resident ID number with a correct check character (each test its own person)."""
    body = f"350102199{uuid.uuid4().int % 10}0101{uuid.uuid4().int % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def organisation_number() -> str:
    """A fresh unified social credit code with both check characters right."""
    core = f"{uuid.uuid4().int % 10**8:08d}"
    check = 11 - sum(int(c) * w for c, w in zip(core, (3, 7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
    body = "91350100" + core + {10: "X", 11: "0"}.get(check, str(check))
    number = body + uscc.calc_check_digit(body)
    assert is_credit_code(number)
    return number


class CodeLog(logging.Handler):
    """Keeps the desk's development sign-in codes as they are logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def code(self) -> str:
        for line in reversed(self.lines):
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "web.holder_dev_code":
                return str(event["code"])
        raise AssertionError("no sign-in code in the log")


@pytest.fixture
def code_log() -> Iterator[CodeLog]:
    handler = CodeLog()
    logger = logging.getLogger("yihao.web.holder")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def certify(live_desk: Any, number: str) -> pb.Licence:
    """A qualification certificate (consent required) issued to ``number`` by hrss."""
    return live_desk.stack.store("hrss").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=uuid.uuid4().hex,
            type_code=QUALIFICATION,
            licence_number=f"RS-2026-{uuid.uuid4().hex[:8]}",
            holder=common_pb2.Holder(number=number, name="张三"),
            fields={
                "occupation": "电工",
                "level": "三级",
                "awarded_on": "2025-01-10",
                "awarding_body": "福州市职业技能鉴定中心",
            },
        )
    )


def holder_sign_in(page: Any, number: str, code_log: CodeLog, *, check: bool = False) -> None:
    """Sign in with the development code read from the desk's log (``check``: axe-core on
    the two sign-in pages as well)."""
    page.goto("/me")
    page.wait_for_url(re.compile(r"/me/signin"))
    assert not check or axe(page) == []
    page.fill("#f-holder_number", number)
    page.click("#ask-code")
    page.wait_for_selector("#f-code")
    assert not check or axe(page) == []
    assert number not in page.url and number not in "\n".join(code_log.lines)
    page.fill("#f-code", code_log.code())
    page.click("#verify-code")
    page.wait_for_url(re.compile(r"/me$"))


def staff_sign_in(page: Any, next_path: str = "/counter") -> None:
    page.goto(f"/signin?next={next_path}")
    page.fill("#f-account", "handler")
    page.fill("#f-password", "handler-password")
    page.press("#f-password", "Enter")
    page.wait_for_url(re.compile(rf"{next_path}$"))


def counter_verify(page: Any, payload: str) -> tuple[str, str]:
    page.goto("/counter")
    page.fill("#f-licence", payload)
    with page.expect_navigation():
        page.press("#f-licence", "Enter")
    box = page.locator("#verdict")
    return box.get_attribute("data-verdict"), page.inner_text("#verdict")


def axe(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations (vendored, loaded from the desk)."""
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_a_shown_licence_verifies_at_the_counter_until_it_expires(
    page, chromium, live_desk, code_log
) -> None:
    number = person_number()
    licence = certify(live_desk, number)
    holder_sign_in(page, number, code_log)
    row = page.locator(f"tr[data-licence='{licence.licence_id}']")
    assert row.get_attribute("data-status") == "valid"
    assert axe(page) == []
    screenshot(page, "holder-licences")

    row.locator("a.button").click()
    page.wait_for_url(re.compile(r"/me/show/"))
    assert page.locator("#qr-payload").count() == 1, page.inner_text("main") + page.url
    first = page.locator("#qr-payload").text_content().strip()
    assert first.startswith("YH1.") and number not in first
    assert page.locator("#qr svg.qr").count() == 1
    assert axe(page) == []
    screenshot(page, "holder-show")
    issued_at = time.monotonic()

    counter = chromium.new_context(base_url=live_desk.url, viewport={"width": 1280, "height": 800})
    desk = counter.new_page()
    desk.set_default_timeout(10_000)
    try:
        staff_sign_in(desk)
        verdict, text = counter_verify(desk, first)
        assert verdict == "valid", text

        # The page fetches a fresh code at two thirds of its life (htmx), without a reload.
        page.locator("#qr-payload").filter(has_not_text=first).wait_for(
            state="attached", timeout=30_000
        )
        assert page.locator("#qr-payload").text_content().strip() != first

        time.sleep(
            max(0.0, live_desk.app.state.holder.qr_seconds + 1.5 - (time.monotonic() - issued_at))
        )
        verdict, text = counter_verify(desk, first)
        assert verdict == "cannot_check" and "QR_EXPIRED" in text, text
        forged = first[:-6] + ("AAAAAA" if not first.endswith("AAAAAA") else "BBBBBB")
        verdict, text = counter_verify(desk, forged)
        assert verdict == "cannot_check" and "QR_SIGNATURE_INVALID" in text, text
    finally:
        counter.close()
    assert page.csp_violations == []


def _housing_reads(live_desk: Any, number: str, grant_id: str) -> Any:
    return live_desk.stack.verifier("housing").VerifyByHolder(
        vpb.VerifyByHolderRequest(
            holder_number=number,
            type_codes=[QUALIFICATION],
            purpose="住房保障资格审核",
            case_number=CASE,
            consent_grant_id=grant_id,
        )
    )


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return info.reason


def _fill_grant(page: Any, type_code: str, days: str) -> None:
    """On my consents: grant housing ``type_code`` for CASE, ``days`` long."""
    page.click("nav a[href='/me/consents']")
    page.wait_for_url(re.compile(r"/me/consents$"))
    page.select_option("#f-department", demo.code_of("housing"))
    page.check(f"input[name=types][value='{type_code}']")
    page.fill("#f-case_number", CASE)
    page.fill("#f-valid_days", days)
    page.click("#grant")


def test_grant_see_the_use_check_its_proof_revoke(page, live_desk, code_log) -> None:
    number = person_number()
    certify(live_desk, number)
    holder_sign_in(page, number, code_log)
    _fill_grant(page, QUALIFICATION, "365")
    page.wait_for_selector("#e-valid_days")
    assert "CONSENT_TOO_LONG" in page.inner_text("#e-valid_days")
    page.fill("#f-valid_days", "30")
    page.click("#grant")
    page.wait_for_selector("#granted")
    grant_id = page.locator("article.consent .grant-id").first.inner_text().strip()
    assert grant_id in page.inner_text("#granted")

    answer = _housing_reads(live_desk, number, grant_id)
    assert [v.verdict for v in answer.verifications] == [vpb.VERDICT_VALID]

    page.click("nav a[href='/me/records']")
    page.wait_for_url(re.compile(r"/me/records$"))
    row = page.locator("#records tbody tr", has_text=grant_id).first
    assert "福州市住房和城乡建设局" in row.inner_text() and CASE in row.inner_text()
    row.locator("button.check-proof").click()
    proof = row.locator("p.proof")
    proof.wait_for()
    assert proof.get_attribute("data-proof") == "INCLUDED", proof.inner_text()
    assert axe(page) == []
    screenshot(page, "holder-records")

    page.click("nav a[href='/me/consents']")
    card = page.locator(f"#consent-{grant_id}")
    assert card.get_attribute("data-state") == "active"
    assert card.locator("li[data-outcome=USED]").count() == 1
    assert axe(page) == []
    screenshot(page, "holder-consents")
    card.locator("button.revoke").click()
    page.wait_for_url(re.compile(r"/me/consents\?m=consent_revoked$"))
    assert page.locator(f"#consent-{grant_id}").get_attribute("data-state") == "revoked"

    with pytest.raises(grpc.RpcError) as refused:
        _housing_reads(live_desk, number, grant_id)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert _reason(refused.value) == "CONSENT_REQUIRED"
    page.reload()
    card = page.locator(f"#consent-{grant_id}")
    assert card.locator("li[data-outcome=CONSENT_REVOKED]").count() == 1
    assert page.csp_violations == []


def test_holder_and_staff_sessions_do_not_cross(page, chromium, live_desk, code_log) -> None:
    number = person_number()
    holder_sign_in(page, number, code_log, check=True)
    assert page.locator("#no-licences").count() == 1, page.inner_text("main")
    for staff_page in ("/counter", "/supervision", "/accounts", "/"):
        page.goto(staff_page)
        assert re.search(r"/signin\?", page.url), staff_page  # the staff sign-in, not a page

    other = chromium.new_context(base_url=live_desk.url)
    staff = other.new_page()
    try:
        staff_sign_in(staff)
        for holder_page in ("/me", "/me/records", "/me/consents"):
            staff.goto(holder_page)
            assert staff.url.endswith("/me/signin?m=signin_required"), holder_page
    finally:
        other.close()
    page.goto("/me")
    page.click("#signout")
    page.wait_for_url(re.compile(r"/me/signin\?m=signed_out$"))
    page.goto("/me/records")
    assert "/me/signin" in page.url


def test_the_holder_pages_fit_a_phone(page, live_desk, code_log) -> None:
    """At 390×844 (a phone, where 亮证 happens) nothing is cut off and the QR code is whole."""
    page.set_viewport_size({"width": 390, "height": 844})
    number = person_number()
    licence = certify(live_desk, number)
    holder_sign_in(page, number, code_log)
    for path in ("/me", f"/me/show/{licence.licence_id}", "/me/records", "/me/consents"):
        page.goto(path)
        assert cut_off(page) == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.goto(f"/me/show/{licence.licence_id}")
    box = page.locator("#qr svg.qr").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    screenshot(page, "holder-show-phone")
    assert page.csp_violations == []


def test_signing_in_at_the_portal_and_login_csrf(
    page, chromium, live_desk, identity_provider
) -> None:
    """The portal's way in a real browser: the sign-in page's link goes to the provider (on
    another site) with a nonce; the provider posts its assertion back cross-site (no holder
    cookie), the desk's page carries it on same-site (with the cookie) and the holder is in.
    Then login CSRF: an assertion made for the attacker's own browser, posted from a page of
    another site in the victim's browser, signs the victim in as nobody."""
    number = person_number()
    licence = certify(live_desk, number)
    page.goto("/me/signin")
    page.click("#portal-signin")
    page.wait_for_url(re.compile(r"^http://localhost:\d+/authorize\?.*nonce="))
    assert number not in page.url
    page.fill("#idp-number", number)
    page.click("#idp-approve")
    page.wait_for_url(re.compile(r"/me$"))
    row = page.locator(f"tr[data-licence='{licence.licence_id}']")  # the holder's own licence
    assert row.get_attribute("data-status") == "valid"
    assert page.csp_violations == []

    from testsupport.browser import fresh_tab

    with fresh_tab(chromium, live_desk.url) as attacker:
        attacker.goto("/me/signin")
        with attacker.expect_request(re.compile(r"localhost:\d+/authorize")) as asked:
            attacker.click("#portal-signin")
        nonce = re.search(r"[?&]nonce=([^&]+)", asked.value.url)
        assert nonce is not None
        token = identity_provider.assertion(person_number(), "yihao-web", nonce.group(1))
    with fresh_tab(chromium, live_desk.url) as victim:
        victim.goto("/me/signin")  # the victim's browser has its own anonymous session
        evil = identity_provider.url.replace("/authorize", "/")  # a page of another site
        victim.goto(evil)
        victim.set_content(
            f'<form id="f" method="post" action="{live_desk.url}/me/signin/assertion">'
            f'<input type="hidden" name="assertion" value="{token}"></form>'
            "<script>document.getElementById('f').submit()</script>"
        )
        victim.wait_for_url(re.compile(r"/me/signin/complete$"))
        victim.wait_for_selector("#refusal")
        victim.goto("/me")
        victim.wait_for_url(re.compile(r"/me/signin"))  # still nobody


def test_an_organisations_representative_signs_in_at_the_portal(page, live_desk) -> None:
    """The portal vouches for a person acting for an organisation: the page is the
    organisation's (its business licence listed), never the person's."""
    organisation, representative = organisation_number(), person_number()
    licence = issue_business_licence(live_desk.stack.store("market"), organisation)
    page.goto("/me/signin")
    page.click("#portal-signin")
    page.wait_for_url(re.compile(r"^http://localhost:\d+/authorize\?"))
    page.fill("#idp-number", representative)
    page.fill("#idp-org", organisation)
    page.click("#idp-approve")
    page.wait_for_url(re.compile(r"/me$"))
    row = page.locator(f"tr[data-licence='{licence.licence_id}']")
    assert row.get_attribute("data-status") == "valid"
    assert organisation not in page.url

    # What the representative grants (and withdraws) for the organisation says who did.
    _fill_grant(page, demo.BUSINESS_LICENCE.type_code, "30")
    page.wait_for_selector("#granted")
    card = page.locator("article.consent").first
    masked = mask_holder_number(representative, HolderKind.PERSON)
    assert card.locator(".granted-by").inner_text().strip() == masked
    assert representative not in page.content()
    card.locator("button.revoke").click()
    page.wait_for_url(re.compile(r"/me/consents\?m=consent_revoked$"))
    card = page.locator("article.consent").first
    assert card.get_attribute("data-state") == "revoked"
    assert card.locator(".revoked-by").inner_text().strip() == masked
    assert page.csp_violations == []
