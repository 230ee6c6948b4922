"""The operator desk without a server (a fake store): the issue form built from the type's
schema, the store's field violations beside their inputs with nothing stored, acting once per
form (and the form's key sent as the store's idempotency key), the lifecycle forms, roles,
and the services down."""

from __future__ import annotations

import re

from tests.clients.web.conftest import csrf_of, sign_in
from tests.clients.web.fake_operator import LICENCE_ID, TYPE_CODE, FakeOperator
from yihao.v1 import common_pb2
from yihao_shared.errors import Unavailable

_KEY = re.compile(r'name="idempotency_key" value="([0-9a-f]{32})"')
ISSUE = f"/operator/issue/{TYPE_CODE}"


def _fake(backend) -> FakeOperator:
    return next(m for m in backend.more if isinstance(m, FakeOperator))


def _form(client, path: str, **values: str) -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    key = _KEY.search(page.text)
    assert key is not None
    return {"csrf_token": csrf_of(page.text), "idempotency_key": key.group(1), **values}


def _issue_values(capital: str) -> dict[str, str]:
    return {
        "licence_number": "350100-2026-0001",
        "holder_number": "91350100M000100Y43",
        "holder_name": "福州示例科技有限公司",
        "fields.legal_representative": "王芳",
        "fields.registered_capital": capital,
        "fields.established_on": "",
    }


def test_the_hub_lists_the_types_the_department_issues(desk_client) -> None:
    sign_in(desk_client, "operator")
    page = desk_client.get("/operator")
    assert page.status_code == 200
    assert f'href="/operator/issue/{TYPE_CODE}"' in page.text and "营业执照" in page.text


def test_the_issue_form_is_built_from_the_field_schema(desk_client) -> None:
    sign_in(desk_client, "operator")
    text = desk_client.get(ISSUE).text
    assert 'name="fields.registered_capital"' in text and 'inputmode="decimal"' in text
    assert 'id="f-fields-established_on" name="fields.established_on" type="date"' in text
    assert '<select id="f-fields-listed" name="fields.listed"' in text  # a boolean
    assert '<textarea id="f-fields-business_scope"' in text  # long text
    assert 'maxlength="2000"' in text
    assert text.count('<span class="required">') == 5  # number, holder ×2, two required fields


def test_a_field_violation_is_shown_beside_its_field_and_nothing_is_stored(
    desk_client, backend
) -> None:
    sign_in(desk_client, "operator")
    form = _form(desk_client, ISSUE, **_issue_values("five hundred"))
    refused = desk_client.post(ISSUE, data=form)
    assert refused.status_code == 400
    assert 'id="e-f-fields-registered_capital"' in refused.text
    assert "注册资本（万元）：须为数字" in refused.text and "not a plain decimal" in refused.text
    assert 'value="350100-2026-0001"' in refused.text  # kept to correct
    assert _fake(backend).issued == []
    form = _form(desk_client, ISSUE, **_issue_values("500.5"))
    done = desk_client.post(ISSUE, data=form)
    assert done.status_code == 303
    assert done.headers["location"] == f"/operator/licences/{LICENCE_ID}?m=op_done"
    (issued,) = _fake(backend).issued
    assert issued.idempotency_key == form["idempotency_key"]  # the form's key, end to end
    assert dict(issued.fields) == {"legal_representative": "王芳", "registered_capital": "500.5"}
    assert issued.holder.kind == common_pb2.HOLDER_KIND_ORGANISATION


def test_a_double_submission_issues_once(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    form = _form(desk_client, ISSUE, **_issue_values("500"))
    first = desk_client.post(ISSUE, data=form)
    second = desk_client.post(ISSUE, data=form)
    assert first.headers["location"].endswith("?m=op_done")
    assert second.headers["location"].endswith("?m=op_once")
    assert len(_fake(backend).issued) == 1
    page = desk_client.get(second.headers["location"])
    assert "此表单已提交过" in page.text


def test_a_form_without_its_key_is_refused_before_the_store_is_called(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    form = _form(desk_client, ISSUE, **_issue_values("500"))
    del form["idempotency_key"]
    refused = desk_client.post(ISSUE, data=form)
    assert refused.status_code == 400 and "idempotency_key" in refused.text
    assert _fake(backend).issued == []


def test_the_lifecycle_forms_act_with_their_reason(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    desk_client.post(ISSUE, data=_form(desk_client, ISSUE, **_issue_values("500")))
    page = f"/operator/licences/{LICENCE_ID}"
    text = desk_client.get(page).text
    assert 'id="act-suspend"' in text and 'id="act-reinstate"' not in text  # active
    assert "91350100M000100Y43" not in text and "913501********0Y43" in text  # masked
    form = _form(desk_client, page, reason_code="INVESTIGATION", reason_text="")
    done = desk_client.post(f"{page}/suspend", data=form)
    assert done.status_code == 303
    ((name, fields),) = _fake(backend).acts
    assert name == "suspend" and fields["reason_code"] == "INVESTIGATION"
    assert fields["idempotency_key"] == form["idempotency_key"]
    assert 'id="act-reinstate"' in desk_client.get(page).text


def test_a_change_sends_only_what_changed_and_nothing_changed_is_refused(
    desk_client, backend
) -> None:
    sign_in(desk_client, "operator")
    desk_client.post(ISSUE, data=_form(desk_client, ISSUE, **_issue_values("500")))
    page = f"/operator/licences/{LICENCE_ID}"
    same = {
        "fields.legal_representative": "王芳",
        "fields.registered_capital": "500",
        "holder_name": "福州示例科技有限公司",
    }
    refused = desk_client.post(f"{page}/change", data=_form(desk_client, page, **same))
    assert refused.status_code == 400 and "未作任何变更" in refused.text
    assert _fake(backend).acts == []
    changed = {**same, "fields.registered_capital": "800"}
    desk_client.post(f"{page}/change", data=_form(desk_client, page, **changed))
    ((name, fields),) = _fake(backend).acts
    assert name == "change" and fields["fields"] == {"registered_capital": "800"}
    assert fields["holder_name"] == ""


def test_unknown_types_and_licences_are_404_and_other_roles_are_refused(
    desk_client, backend
) -> None:
    sign_in(desk_client, "operator")
    assert desk_client.get("/operator/issue/11100000000013338W999").status_code == 404
    assert desk_client.get("/operator/issue/..%2Fetc").status_code == 404
    assert desk_client.get("/operator/licences/not-an-id").status_code == 404
    desk_client.post("/signout", data={"csrf_token": csrf_of(desk_client.get("/").text)})
    sign_in(desk_client, "handler")
    assert desk_client.get("/operator").status_code == 403
    form = {"csrf_token": csrf_of(desk_client.get("/").text), **_issue_values("500")}
    assert desk_client.post(ISSUE, data=form).status_code == 403
    assert _fake(backend).issued == []


def test_the_services_down_is_a_clear_page_and_the_same_form_works_after(
    desk_client, backend
) -> None:
    sign_in(desk_client, "operator")
    form = _form(desk_client, ISSUE, **_issue_values("500"))
    backend.fail = Unavailable("down")
    down = desk_client.post(ISSUE, data=form)
    assert down.status_code == 503 and "服务暂时不可用" in down.text
    assert "Traceback" not in down.text
    backend.fail = None
    assert desk_client.post(ISSUE, data=form).headers["location"].endswith("?m=op_done")


def test_recent_events_newest_first_with_pages(desk_client, backend, monkeypatch) -> None:
    from clients.web import operator_events

    monkeypatch.setattr(operator_events, "PAGE", 2)
    sign_in(desk_client, "operator")
    first = desk_client.get("/operator/events")
    assert first.status_code == 200
    cursors = re.findall(r'data-cursor="(\d+)"', first.text)
    assert cursors == ["3", "2"] and "暂扣" in first.text and "INVESTIGATION" in first.text
    assert 'href="/operator/events?before=2"' in first.text
    asked = _fake(backend).watched[-1]
    assert asked == {"newest_first": True, "before_cursor": 0, "limit": 2}
    older = desk_client.get("/operator/events?before=2")
    assert re.findall(r'data-cursor="(\d+)"', older.text) == ["1"]
    assert 'id="older"' not in older.text and 'id="newest"' in older.text
    assert desk_client.get("/operator/events?before=x").status_code == 404


def test_a_renewal_sends_the_new_expiry_and_its_reason(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    desk_client.post(ISSUE, data=_form(desk_client, ISSUE, **_issue_values("500")))
    page = f"/operator/licences/{LICENCE_ID}"
    form = _form(desk_client, page, valid_until="2031-12-31", reason="到期延续")
    assert desk_client.post(f"{page}/renew", data=form).status_code == 303
    ((name, fields),) = _fake(backend).acts
    assert (name, fields["valid_until"], fields["reason"]) == ("renew", "2031-12-31", "到期延续")
    assert desk_client.post(f"{page}/delete", data=form).status_code == 404  # not a desk act


def test_the_licence_is_read_with_the_desks_purpose_and_case(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    desk_client.post(ISSUE, data=_form(desk_client, ISSUE, **_issue_values("500")))
    assert desk_client.get(f"/operator/licences/{LICENCE_ID}").status_code == 200
    form = {"csrf_token": csrf_of(desk_client.get("/operator").text), "licence": LICENCE_ID}
    assert desk_client.post("/operator/find", data=form).status_code == 303
    reads = _fake(backend).reads
    assert len(reads) >= 2
    assert all(r == {"purpose": "证照管理", "case_number": "发证机关证照档案"} for r in reads)


def test_a_licence_is_cancelled_with_its_reason_and_cancelled_is_terminal(
    desk_client, backend
) -> None:
    sign_in(desk_client, "operator")
    desk_client.post(ISSUE, data=_form(desk_client, ISSUE, **_issue_values("500")))
    page = f"/operator/licences/{LICENCE_ID}"
    text = desk_client.get(page).text
    assert 'id="act-cancel"' in text and "HOLDER_DISSOLVED" in text
    form = _form(desk_client, page, reason_code="HOLDER_DISSOLVED", reason_text="")
    unconfirmed = desk_client.post(f"{page}/cancel", data=form)  # the box not ticked
    assert unconfirmed.status_code == 400 and "请勾选确认后再提交" in unconfirmed.text
    assert 'id="cancel-confirm"' in unconfirmed.text and not _fake(backend).acts  # nothing
    form = _form(desk_client, page, reason_code="HOLDER_DISSOLVED", reason_text="", confirm="yes")
    assert desk_client.post(f"{page}/cancel", data=form).status_code == 303
    ((name, fields),) = _fake(backend).acts
    assert name == "cancel" and fields["reason_code"] == "HOLDER_DISSOLVED"
    assert fields["idempotency_key"] == form["idempotency_key"]
    after = desk_client.get(page).text
    assert "已注销" in after and 'id="act-' not in after  # no act starts from cancelled
