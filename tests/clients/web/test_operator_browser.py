"""The operator desk in a real headless Chromium against the real gRPC stack: an operator of
the market regulator issues a business licence after correcting a field error (shown beside
the field; stored once), a double submission acts once, the licence is suspended, reinstated
and revoked, a bulk file is imported with its progress and report, the recent events are
listed; axe-core finds no serious or critical violation on each operator screen, which also
fit a tablet. Screenshots go to docs/screenshots/ (with YIHAO_SCREENSHOTS=1)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import grpc
import pytest

from clients.web.bulk_jobs import RUNNING
from services.licence_store import demo
from tests.clients.web.test_counter_browser import _axe
from testsupport.browser import screenshot
from yihao.v1 import licence_store_pb2 as pb

pytestmark = pytest.mark.browser

TYPE = demo.BUSINESS_LICENCE.type_code
HOLDER = "91350100M000100Y43"
GOOD = {
    "legal_representative": "王芳",
    "company_type": "有限责任公司",
    "established_on": "2020-05-22",
    "address": "福州市鼓楼区五四路1号",
    "business_scope": "软件开发",
}


def _id(name: str) -> str:
    return "#f-" + name.replace(".", "-")


def _sign_in(page: Any, account: str = "operator") -> None:
    page.goto("/signin?next=/operator")
    page.fill("#f-account", account)
    page.fill("#f-password", f"{account}-password")
    page.press("#f-password", "Enter")
    page.wait_for_url(re.compile(r"/operator$"))


def _fill_issue(page: Any, number: str, capital: str) -> None:
    page.fill(_id("licence_number"), number)
    page.fill(_id("holder_number"), HOLDER)
    page.fill(_id("holder_name"), "福州示例科技有限公司")
    for name, value in GOOD.items():
        page.fill(_id(f"fields.{name}"), value)
    page.fill(_id("fields.registered_capital"), capital)


def _history(live_desk: Any, licence_id: str, issuer: str = "market") -> pb.LicenceHistory:
    ref = pb.LicenceRef(licence_id=licence_id)
    request = pb.GetLicenceRequest(licence=ref, purpose="测试核对", case_number="TEST-1")
    return live_desk.stack.store(issuer).GetLicenceHistory(request)


def test_issue_after_correcting_a_field_error_then_suspend_reinstate_revoke(
    page, live_desk
) -> None:
    _sign_in(page)
    assert _axe(page) == []
    page.click(f'a[data-type="{TYPE}"]')
    page.wait_for_url(re.compile(rf"/operator/issue/{TYPE}$"))
    number = f"350100-OP-{uuid.uuid4().hex[:8]}"
    _fill_issue(page, number, "five hundred")  # not a decimal
    with page.expect_navigation():
        page.click("#issue")
    error = page.locator("#e-f-fields-registered_capital")
    assert "not a plain decimal number" in error.inner_text() and "注册资本" in error.inner_text()
    field = page.locator(_id("fields.registered_capital"))
    assert field.get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "f-fields-registered_capital"
    assert page.input_value(_id("licence_number")) == number  # what was typed is kept
    assert _axe(page) == []
    screenshot(page, "operator-field-error")
    # nothing was stored
    store = live_desk.stack.store("market")
    ref = pb.LicenceRef(type_and_number=pb.TypeAndNumber(type_code=TYPE, licence_number=number))
    with pytest.raises(grpc.RpcError) as missing:
        store.GetLicence(pb.GetLicenceRequest(licence=ref))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    page.fill(_id("fields.registered_capital"), "500.00")
    with page.expect_navigation():
        page.click("#issue")
    page.wait_for_url(re.compile(r"/operator/licences/1\.2\.156"))
    assert "已办理并保存" in page.inner_text("#flash")
    assert page.get_attribute("#status", "data-status") == "active"
    licence_id = page.inner_text("#licence-id").strip()
    assert page.inner_text("#licence-ref").strip() == f"{TYPE}:{number}"
    assert HOLDER not in page.inner_text("main")  # the holder number is masked
    assert _axe(page) == []
    history = _history(live_desk, licence_id)
    assert [e.kind for e in history.events] == [pb.EVENT_KIND_ISSUED]
    assert history.events[0].staff == "operator"  # the staff member is recorded

    for action, reason, status in (
        ("suspend", "INVESTIGATION", "suspended"),
        ("reinstate", "INVESTIGATION_CLOSED", "active"),
        ("revoke", "VIOLATION", "revoked"),
    ):
        page.click(f"#act-{action} summary")
        page.select_option(f"#{action}-reason_code", reason)
        if action == "revoke":  # ends the licence: not done until the operator confirms
            with page.expect_navigation():
                page.click("#do-revoke")
            assert page.get_attribute("#revoke-confirm", "aria-invalid") == "true"
            assert "请勾选确认" in page.inner_text("#e-revoke-confirm")
            assert page.get_attribute("#status", "data-status") == "active"  # nothing done
            page.check("#revoke-confirm")
        with page.expect_navigation():
            page.click(f"#do-{action}")
        assert page.get_attribute("#status", "data-status") == status, action
    assert page.locator("#no-acts").is_visible()
    kinds = [e.kind for e in _history(live_desk, licence_id).events]
    assert kinds == [
        pb.EVENT_KIND_ISSUED,
        pb.EVENT_KIND_SUSPENDED,
        pb.EVENT_KIND_REINSTATED,
        pb.EVENT_KIND_REVOKED,
    ]

    page.click('.operator-tabs a[href="/operator/events"]')
    page.wait_for_url(re.compile(r"/operator/events$"))
    mine = page.locator("#events tbody tr", has_text=licence_id)
    assert mine.count() == 4
    newest = mine.first.inner_text()
    assert "吊销" in newest and "VIOLATION" in newest and "operator" in newest
    assert "issued" in mine.last.inner_text()
    assert _axe(page) == []
    screenshot(page, "operator-events")
    assert page.csp_violations == []


def test_a_status_act_without_its_reason_names_the_field_and_other_needs_words(
    page, live_desk
) -> None:
    _sign_in(page)
    page.goto(f"/operator/issue/{TYPE}")
    _fill_issue(page, f"350100-OP-{uuid.uuid4().hex[:8]}", "10")
    with page.expect_navigation():
        page.click("#issue")
    page.click("#act-suspend summary")
    with page.expect_navigation():
        page.click("#do-suspend")
    refused = page.inner_text("#e-suspend-reason_code")
    assert "须从列表中选择" in refused and "is not a reason to suspend" in refused
    page.select_option("#suspend-reason_code", "OTHER")
    with page.expect_navigation():
        page.click("#do-suspend")
    assert "说明：必填" in page.inner_text("#e-suspend-reason_text")
    page.fill("#suspend-reason_text", "当事人申请暂停经营")
    with page.expect_navigation():
        page.click("#do-suspend")
    assert page.get_attribute("#status", "data-status") == "suspended"


def test_the_same_issue_form_sent_twice_issues_once(page, live_desk) -> None:
    """A double submission (the same form, key and all, posted twice through the real desk)
    stores one licence: the second post is told so and led to the same licence."""
    _sign_in(page)
    page.goto(f"/operator/issue/{TYPE}")
    number = f"350100-OP-{uuid.uuid4().hex[:8]}"
    form = {
        "csrf_token": page.get_attribute("input[name=csrf_token]", "value"),
        "idempotency_key": page.get_attribute("input[name=idempotency_key]", "value"),
        "licence_number": number,
        "holder_number": HOLDER,
        "holder_name": "福州示例科技有限公司",
        **{f"fields.{k}": v for k, v in GOOD.items()},
        "fields.registered_capital": "500",
    }
    places = []
    for _ in range(2):
        response = page.request.post(f"/operator/issue/{TYPE}", form=form, max_redirects=0)
        assert response.status == 303
        places.append(response.headers["location"])
    assert places[0].endswith("?m=op_done") and places[1].endswith("?m=op_once")
    assert places[0].split("?")[0] == places[1].split("?")[0]
    page.goto(places[1])
    assert "已提交过" in page.inner_text("#flash")
    licence_id = page.inner_text("#licence-id").strip()
    assert len(_history(live_desk, licence_id).events) == 1


def test_a_tablet_can_use_the_operator_screens(page, live_desk) -> None:
    _sign_in(page)
    page.set_viewport_size({"width": 820, "height": 1180})
    screens = {
        "/operator": "#find",
        f"/operator/issue/{TYPE}": "#issue",
        "/operator/bulk": "#upload",
        "/operator/events": "main h1",
    }
    for path, control in screens.items():
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert overflow is False, path
        assert _axe(page) == [], path
        assert page.is_visible(control), path


def _csv(rows: list[str]) -> bytes:
    header = (
        "type_code,licence_number,holder_number,holder_name,field.legal_representative,"
        "field.company_type,field.registered_capital,field.established_on,field.address,"
        "field.business_scope"
    )
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _row(number: str, capital: str = "100") -> str:
    return (
        f"{TYPE},{number},{HOLDER},福州批量科技有限公司,李雷,有限责任公司,{capital},2021-01-02,"
        "福州市台江区,软件开发"
    )


def _upload(page: Any, name: str, content: bytes) -> None:
    page.goto("/operator/bulk")
    page.set_input_files(
        "#f-file", files=[{"name": name, "mimeType": "text/csv", "buffer": content}]
    )
    with page.expect_navigation():
        page.click("#upload")


def test_a_bulk_upload_shows_its_progress_and_its_report(page, live_desk) -> None:
    _sign_in(page)
    page.goto("/operator/bulk")
    assert _axe(page) == []
    batch = uuid.uuid4().hex[:6]
    rows = [_row(f"BULK-{batch}-{i:04d}") for i in range(1, 301)]
    rows[9] = _row(f"BULK-{batch}-bad", "lots")  # line 11: not a decimal
    rows[19] = f"{TYPE},,{HOLDER},x,,,,,,"  # line 21: no licence number
    jobs = live_desk.desk.app.state.bulk_jobs
    for _ in range(RUNNING):  # every import slot taken: the upload waits its turn
        jobs._slots.acquire()
    try:
        _upload(page, "licences.csv", _csv(rows))
        page.wait_for_url(re.compile(r"/operator/bulk/[0-9a-f]{32}$"))
        assert page.get_attribute("#progress", "data-state") == "queued"
        assert page.get_attribute("#bar", "value") == "0"
        with page.expect_response(re.compile(r"/progress$")):  # htmx polls the panel
            pass
    finally:
        for _ in range(RUNNING):
            jobs._slots.release()
    page.locator('#progress[data-state="done"]').wait_for(timeout=60_000)  # swapped in place
    assert page.inner_text("#n-accepted") == "298" and page.inner_text("#n-rejected") == "2"
    assert page.get_attribute("#bar", "value") == "100"
    rejected = page.inner_text("#rejected")
    assert "11" in rejected and "DECIMAL_FORMAT" in rejected and "21" in rejected
    assert _axe(page) == []
    screenshot(page, "operator-bulk-import")
    with page.expect_download() as download:
        page.click("#report")
    report = download.value.path().read_text("utf-8-sig").splitlines()
    assert report[0] == "line,outcome,licence_id,reason_code,reason"
    assert len(report) == 301
    assert report[10].startswith("11,rejected,,DECIMAL_FORMAT,")
    assert report[1].startswith("2,accepted,1.2.156.3005.2.")

    _upload(page, "again.csv", _csv(rows[:5]))  # the same lines again: stored once
    page.locator('#progress[data-state="done"]').wait_for(timeout=30_000)
    assert page.inner_text("#n-duplicate") == "5" and page.inner_text("#n-accepted") == "0"
    assert page.csp_violations == []


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("licences.xlsx", b"PK\x03\x04", "must end in .csv, .jsonl"),
        (
            "licences.csv",
            _csv([_row("GBK-1")]).replace("福州批量".encode(), "福州批量".encode("gbk")),
            "line 2, column 48: not UTF-8",
        ),
        (
            "licences.csv",
            b"type_code,holder_number\nX,Y\n",
            "line 1: missing column(s) ['licence_number']",
        ),
        ("licences.csv", _csv([]), "holds no records"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_the_line_column_and_rule(
    page, live_desk, name, content, words
) -> None:
    _sign_in(page)
    _upload(page, name, content)
    assert "/operator/bulk" in page.url and words in page.inner_text("#e-file")
    assert page.get_attribute("#f-file", "aria-invalid") == "true"


def test_a_change_with_a_field_error_then_a_renewal(page, live_desk) -> None:
    _sign_in(page)
    page.goto(f"/operator/issue/{TYPE}")
    _fill_issue(page, f"350100-OP-{uuid.uuid4().hex[:8]}", "10")
    with page.expect_navigation():
        page.click("#issue")
    assert page.locator("#act-renew").count() == 0  # no end of validity: nothing to renew
    page.goto(f"/operator/issue/{TYPE}")
    _fill_issue(page, f"350100-OP-{uuid.uuid4().hex[:8]}", "10")
    page.fill(_id("valid_until"), "2030-12-31")
    with page.expect_navigation():
        page.click("#issue")
    assert "2030-12-31" in page.inner_text("#validity")
    page.click("#act-change summary")
    page.fill("#change-fields-registered_capital", "ten")
    with page.expect_navigation():
        page.click("#do-change")
    error = page.inner_text("#e-change-fields-registered_capital")
    assert "注册资本（万元）：须为数字" in error and "not a plain decimal" in error
    assert page.get_attribute("#act-change", "open") is not None  # the refused form stays open
    page.fill("#change-fields-registered_capital", "20.5")
    page.fill("#change-reason", "增资")
    with page.expect_navigation():
        page.click("#do-change")
    assert page.inner_text("#version").strip() == "2"
    assert "20.5" in page.inner_text("main")
    page.click("#act-renew summary")
    page.fill("#renew-valid_until", "2036-06-30")
    with page.expect_navigation():
        page.click("#do-renew")
    assert "2036-06-30" in page.inner_text("#validity")
    assert page.inner_text("#version").strip() == "3"
    assert page.csp_violations == []


def test_a_persons_licence_is_issued_opened_and_cancelled(page, live_desk) -> None:
    """结婚证 (holders are people): the desk reads it with its purpose and case number (the
    store refuses a person's licence read without them), and cancels (注销) it."""
    marriage = demo.MARRIAGE_CERTIFICATE.type_code
    _sign_in(page, "registrar")
    page.goto(f"/operator/issue/{marriage}")
    number = f"J350100-{uuid.uuid4().hex[:8]}"
    page.fill(_id("licence_number"), number)
    page.fill(_id("holder_number"), "11010519491231002X")
    page.fill(_id("holder_name"), "张三")
    for name, value in (
        ("spouse_name", "李四"),
        ("spouse_id_number", "350102199003070015"),
        ("registered_on", "2024-05-20"),
        ("registration_office", "福州市鼓楼区民政局"),
        ("certificate_serial", f"J350102-2024-{number[-6:]}"),
    ):
        page.fill(_id(f"fields.{name}"), value)
    with page.expect_navigation():
        page.click("#issue")
    page.wait_for_url(re.compile(r"/operator/licences/1\.2\.156"))
    assert page.get_attribute("#status", "data-status") == "active"
    licence_id = page.inner_text("#licence-id").strip()
    page.goto("/operator")  # found again by TYPE:NUMBER
    page.fill("#f-licence", f"{marriage}:{number}")
    with page.expect_navigation():
        page.press("#f-licence", "Enter")
    assert page.inner_text("#licence-id").strip() == licence_id
    page.click("#act-cancel summary")
    page.select_option("#cancel-reason_code", "HOLDER_DECEASED")
    page.check("#cancel-confirm")
    with page.expect_navigation():
        page.click("#do-cancel")
    assert page.get_attribute("#status", "data-status") == "cancelled"
    assert page.locator("#no-acts").is_visible()
    history = _history(live_desk, licence_id, "civil")
    assert [e.kind for e in history.events] == [pb.EVENT_KIND_ISSUED, pb.EVENT_KIND_CANCELLED]
    assert history.events[1].reason_code == "HOLDER_DECEASED"
    assert history.events[1].staff == "registrar"
    assert _axe(page) == []
    assert page.csp_violations == []
