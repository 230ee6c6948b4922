"""The supervision room with a fake of the services: tables and filters, charts' data, the
health panel, a request's timeline, urging once per form, errors naming the field, and a
service that is down (a clear page, then working again)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from clients.web.db import ONCE
from tests.clients.web.conftest import csrf_of, sign_in
from tests.clients.web.fake_supervision import EDU, HOLDER, NOW, POLICE
from yihao_shared.errors import Unavailable


@pytest.fixture
def supervisor(desk_client):
    sign_in(desk_client, "supervisor")
    return desk_client


@pytest.fixture
def fake(backend):
    return backend.more[0]


def _once_of(html: str) -> str:
    found = re.search(r'name="once" value="([0-9a-f]{32})"', html)
    assert found, "no one-time key on the page"
    return found.group(1)


def _urge_form(html: str, note: str = "") -> dict[str, str]:
    """The urging form's own fields (its CSRF token, not the sign-out form's)."""
    form = html.split('id="urge-form"')[1].split("</form>")[0]
    return {"csrf_token": csrf_of(form), "once": _once_of(form), "note": note}


def test_the_room_shows_figures_and_overdue_requests(supervisor) -> None:
    page = supervisor.get("/supervision")
    assert page.status_code == 200
    overdue = page.text.split('id="sv-overdue"')[1]
    assert 'href="/supervision/requests/R1LATE"' in overdue
    assert "福州市教育局" in overdue and "学历学位信息核查 (XZXZ-JY-001)" in overdue
    assert "3 天" in overdue  # three days over
    figures = page.text.split('id="sv-figures"')[1].split("</table>")[0]
    assert "0.0%" in figures  # police: 1 of 1 answered on time -> 100.0%; edu: refused 1 of 1
    assert "100.0%" in figures
    assert HOLDER not in page.text


def test_filters_by_provider_and_item(supervisor, fake) -> None:
    page = supervisor.get(f"/supervision/overdue?provider={POLICE}")
    assert page.status_code == 200 and "R1LATE" not in page.text
    assert fake.supervised[-1]["department_codes"] == [POLICE]
    page = supervisor.get("/supervision/overdue?item=XZXZ-GA-001")
    assert "R1LATE" not in page.text and "没有超期申请" in page.text
    page = supervisor.get(f"/supervision/overdue?provider={EDU}&item=XZXZ-JY-001")
    assert "R1LATE" in page.text
    assert "<html" not in page.text  # a partial, for htmx


def test_the_charts_data_has_a_point_per_month_and_gaps_where_nothing_was_decided(
    supervisor, fake
) -> None:
    answer = supervisor.get("/supervision/trends.json?months=3")
    assert answer.status_code == 200
    data = answer.json()
    assert data["months"] == ["2026-09", "2026-10", "2026-11"]  # the desk clock: 2026-11-29
    assert [call["submitted_from"] for call in fake.supervised] == [
        "2026-09-01",
        "2026-10-01",
        "2026-11-01",
    ]
    assert [call["submitted_to"] for call in fake.supervised][-1] == "2026-11-30"
    series = {s["code"]: s for s in data["series"]}
    assert series[POLICE]["on_time"] == [100.0, 100.0, 100.0]
    assert series[EDU]["on_time"] == [None, None, None]  # nothing answered
    assert series[EDU]["refusal"] == [100.0, 100.0, 100.0]
    assert supervisor.get("/supervision/trends.json?months=7").json()["months"][0] == "2025-12"


def test_the_health_panel_names_each_service_and_the_logs_head(supervisor, fake) -> None:
    fake.health_of["yihao.v1.Verifier"] = "NOT_SERVING"
    panel = supervisor.get("/supervision/health").text
    assert '证照库 <span class="en">Licence store</span>: <strong>正常' in panel
    assert '核验服务 <span class="en">Verifier</span>: <strong>停止服务' in panel
    assert 'id="sv-head-size">42<' in panel and "30 秒前" in panel
    assert "sv-head-stale" not in panel
    fake.head_at = NOW - 3600
    assert "sv-head-stale" in supervisor.get("/supervision/health").text


def test_the_health_panel_says_unreachable_rather_than_failing(supervisor, backend) -> None:
    backend.fail = Unavailable("down")
    panel = supervisor.get("/supervision/health")
    assert panel.status_code == 200
    assert panel.text.count("无法连接") == 5  # four services and the log


def test_a_request_shows_its_timeline_with_the_holder_masked(supervisor) -> None:
    page = supervisor.get("/supervision/requests/R3NO")
    assert page.status_code == 200
    timeline = page.text.split('id="timeline"')[1].split("</ol>")[0]
    kinds = re.findall(r'class="sv-event sv-([a-z-]+)"', timeline)
    assert kinds == ["submitted", "refused", "deadline-passed"]
    assert "NO_RECORD: 查无此人" in timeline
    assert "320106********5231" in page.text and HOLDER not in page.text
    assert 'id="urge-form"' not in page.text  # decided: nothing to urge


def test_urging_acts_once_however_often_the_form_is_sent(supervisor, fake, desk_client) -> None:
    page = supervisor.get("/supervision/requests/R1LATE").text
    form = _urge_form(page, "请尽快办理")
    first = supervisor.post("/supervision/requests/R1LATE", data=form)
    assert first.status_code == 303 and first.headers["location"].endswith("?m=urged")
    again = supervisor.post("/supervision/requests/R1LATE", data=form)
    assert again.headers["location"].endswith("?m=urged_once")
    assert fake.urged == [("R1LATE", "请尽快办理")]
    shown = supervisor.get(again.headers["location"]).text
    assert "未再次催办" in shown
    kinds = re.findall(r'class="sv-event sv-([a-z-]+)"', shown)
    assert kinds == ["submitted", "deadline-passed", "urged"]
    assert "请尽快办理" in shown
    engine = desk_client.app.state.desk.engine
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ONCE)).scalar() == 1


def test_an_urging_form_error_names_the_field_and_the_rule(supervisor, fake) -> None:
    page = supervisor.get("/supervision/requests/R1LATE").text
    form = _urge_form(page, "催" * 501)
    answer = supervisor.post("/supervision/requests/R1LATE", data=form)
    assert answer.status_code == 400
    assert 'id="e-note"' in answer.text and "500" in answer.text
    form = {"csrf_token": csrf_of(page), "once": "x", "note": ""}
    answer = supervisor.post("/supervision/requests/R1LATE", data=form)
    assert answer.status_code == 400 and 'id="e-once"' in answer.text
    assert fake.urged == []


def test_urging_a_decided_request_is_refused_and_can_be_retried(supervisor, fake) -> None:
    page = supervisor.get("/supervision/requests/R1LATE").text
    form = _urge_form(page)
    answer = supervisor.post("/supervision/requests/R2DONE", data=form)
    assert answer.status_code == 400 and "已办结" in answer.text
    assert (
        supervisor.post("/supervision/requests/R1LATE", data=form)
        .headers["location"]
        .endswith("?m=urged")
    )  # the key was released: the form still works


def test_an_unknown_request_is_a_clear_404(supervisor) -> None:
    page = supervisor.get("/supervision/requests/NOSUCH")
    assert page.status_code == 404 and "找不到申请" in page.text


def test_only_a_supervisor_may_urge(desk_client, fake) -> None:
    sign_in(desk_client, "handler")
    page = desk_client.get("/").text
    form = {"csrf_token": csrf_of(page), "once": "a" * 32}
    assert desk_client.post("/supervision/requests/R1LATE", data=form).status_code == 403
    assert fake.urged == []


def test_services_down_is_a_clear_page_and_the_room_works_when_they_return(
    supervisor, backend
) -> None:
    backend.fail = Unavailable("down")
    page = supervisor.get("/supervision")
    assert page.status_code == 503 and "服务暂时不可用" in page.text
    assert supervisor.get("/supervision/overdue").status_code == 503
    backend.fail = None
    assert supervisor.get("/supervision").status_code == 200
