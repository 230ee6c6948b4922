"""``yihao assist`` / ``supervise`` / ``access`` / ``commit`` against a real server (SQLite).

The server's clock is the injectable one from tests/conftest.py: Monday 1 June 2026, 10:00 in
China, a working day.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from services.common.clock import CHINA_TZ, FixedClock
from services.licence_store import demo

MARRIAGE = demo.MARRIAGE_CERTIFICATE.type_code
HUSBAND = "11010519491231002X"
WIFE = "360426199101010071"
GRADUATE = "320106198707105231"
BASIS = "《中华人民共和国户口登记条例》第十九条"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def marry(yihao) -> None:
    code, _, err = yihao(
        "civil",
        "issue",
        "--type",
        MARRIAGE,
        "--number",
        "J350100-2026-000123",
        "--holder",
        HUSBAND,
        "--holder-name",
        "张三",
        "--field",
        "spouse_name=李四",
        "--field",
        f"spouse_id_number={WIFE}",
        "--field",
        "registered_on=2026-05-20",
        "--field",
        "registration_office=福州市鼓楼区民政局婚姻登记处",
        "--field",
        "certificate_serial=J350102-2026-000123",
    )
    assert code == 0, err


def submit(yihao, alias: str, item: str, holder: str, *extra: str, purpose: str) -> dict:
    """Submit through the CLI (--json); the request as a dict."""
    case = () if "--case" in extra else ("--case", "TEST-2026-0001")
    args = (
        "assist",
        "request",
        item,
        holder,
        "--purpose",
        purpose,
        "--basis",
        BASIS,
        *case,
        *extra,
    )
    code, out, err = yihao(alias, *args, json_out=True)
    assert code == 0, err
    return json.loads(out)


def ask_degree(yihao) -> str:
    request = submit(
        yihao, "hrss", "XZXZ-JY-001", GRADUATE, "--case", "RS-2026-007", purpose="职业资格审查"
    )
    return str(request["request_id"])


def ask_record(yihao) -> str:
    return str(submit(yihao, "hrss", "XZXZ-GA-001", GRADUATE, purpose="职业资格审查")["request_id"])


def row_of(text: str, needle: str) -> list[str]:
    """The cells (split on runs of 2+ spaces) of the first line containing ``needle``."""
    line = next(line for line in text.splitlines() if needle in line)
    return re.split(r"\s{2,}", line.strip())


# --- catalogue --------------------------------------------------------------------------------


def test_items_table_and_filters(yihao):
    code, out, _ = yihao("hrss", "assist", "items", "--requester", "hrss")
    assert code == 0
    assert "XZXZ-MZ-001" not in out  # not granted to hrss
    assert row_of(out, "XZXZ-JY-001") == [
        "XZXZ-JY-001",
        "学历学位信息核查",
        "福州市教育局",
        "manual 人工",
        "5",
        "degree, major, institution, graduated_on",
        "PERSONAL_PRIVACY, NOT_HELD, OUTSIDE_COMPETENCE",
    ]
    assert "事由 purpose (--purpose) one of: 职业资格审查 | 人才引进审核" in out
    code, out, _ = yihao("hall", "assist", "items", "--procedure", "automatic", json_out=True)
    assert sorted(json.loads(line)["code"] for line in out.splitlines()) == [
        "XZXZ-MZ-001",
        "XZXZ-RS-001",
        "XZXZ-SC-001",
    ]
    code, out, _ = yihao("hall", "assist", "items", "--provider", "civil", "--text", "婚姻")
    assert "XZXZ-MZ-001" in out and "XZXZ-SC-001" not in out


# --- requests ---------------------------------------------------------------------------------


def test_automatic_request_is_answered_at_once_with_only_the_requested_fields(yihao):
    marry(yihao)
    fields = ("--field", "spouse_name", "spouse_id_number", "registered_on")
    answered = submit(yihao, "police", "XZXZ-MZ-001", HUSBAND, *fields, purpose="户籍业务办理")
    assert answered["status"] == "REQUEST_STATUS_ANSWERED"
    assert answered["answer"] == {
        "result": "FOUND",
        "spouse_name": "李四",
        "spouse_id_number": "360426********0071",
        "registered_on": "2026-05-20",
    }
    code, out, _ = yihao("police", "assist", "show", answered["request_id"])
    assert code == 0
    assert "answered 已答复" in out and "110105********002X" in out
    assert row_of(out, "配偶姓名") == ["配偶姓名 spouse_name", "李四"]
    assert "registration_office" not in out and "certificate_serial" not in out
    assert "时限 deadline       2026-06-02 23:59 北京时间" in out  # one working day


def test_manual_request_queued_answered_and_shown(yihao, clock: FixedClock):
    request_id = ask_degree(yihao)
    code, out, _ = yihao("education", "assist", "pending")
    assert code == 0
    assert row_of(out, request_id) == [
        "pending 待办",
        "2026-06-08 23:59",
        request_id,
        "学历学位信息核查 (XZXZ-JY-001)",
        "福州市人力资源和社会保障局",
        GRADUATE,  # the provider needs the whole number
        "职业资格审查",
        "RS-2026-007",
    ]
    clock.advance(timedelta(days=2))
    data = ("degree=工学学士", "major=软件工程", "institution=福州大学", "graduated_on=2009-07-01")
    code, out, err = yihao("education", "assist", "answer", request_id, "--data", *data)
    assert code == 0, err
    assert "answered 已答复" in out
    code, out, _ = yihao("hrss", "assist", "show", request_id)
    assert "answered 已答复" in out and "OVERDUE" not in out
    assert row_of(out, "福州大学") == ["institution", "福州大学"]
    assert "办结 decided        2026-06-03 10:00 北京时间" in out
    code, out, _ = yihao("education", "assist", "pending")
    assert request_id not in out and "(none)" in out
    code, out, _ = yihao("hrss", "assist", "mine", "--status", "answered")
    assert row_of(out, request_id)[3] == "answered 已答复"


def test_a_purpose_the_item_does_not_allow_is_named(yihao):
    code, out, err = yihao(
        "hrss",
        "assist",
        "request",
        "XZXZ-JY-001",
        GRADUATE,
        "--purpose",
        "人才引进",
        "--basis",
        "x",
        "--case",
        "RS-2026-008",
    )
    assert (code, out) == (1, "")
    assert "PURPOSE_NOT_ALLOWED" in err and "职业资格审查; 人才引进审核" in err


def test_overdue_is_marked_in_the_queue_and_urging_recorded(yihao, clock: FixedClock):
    request_id = ask_record(yihao)
    clock.advance(timedelta(days=8))  # past the 5th working day
    code, out, _ = yihao("police", "assist", "pending")
    assert row_of(out, request_id)[0] == "OVERDUE 已超期"
    code, out, _ = yihao("hrss", "assist", "urge", request_id, "--note", "请尽快办理")
    assert code == 0 and "OVERDUE 已超期" in out
    assert row_of(out, "请尽快办理")[0] == "2026-06-09 10:00"
    code, out, _ = yihao("supervision", "supervise")
    overdue = out.split("超期未办 overdue now")[1]
    assert row_of(overdue, request_id)[2:] == [
        "福州市公安局",
        "福州市人力资源和社会保障局",
        "2026-06-08 23:59",
        "1",
    ]


def test_refusal_only_on_a_listed_ground(yihao):
    request_id = ask_record(yihao)
    refuse = ("assist", "refuse", request_id, "--ground")
    code, out, err = yihao("police", *refuse, "COMMERCIAL_SECRET", "--explanation", "不便提供")
    assert (code, out) == (1, "")
    assert "GROUND_NOT_LISTED" in err
    assert "it lists STATE_SECRET, PERSONAL_PRIVACY, NOT_HELD" in err
    code, out, _ = yihao("police", *refuse, "NOT_HELD", "--explanation", "本局未掌握其记录")
    assert code == 0
    assert "refused 已拒绝" in out and "NOT_HELD 本部门未掌握" in out
    code, _, err = yihao("police", "assist", "answer", request_id, "--data", "has_record=false")
    assert code == 1 and "REQUEST_NOT_PENDING" in err


def test_supervise_shows_the_figures(yihao, clock: FixedClock):
    degree, record = ask_degree(yihao), ask_record(yihao)
    clock.advance(timedelta(days=2))
    assert yihao("education", "assist", "answer", degree, "--data", "degree=工学学士")[0] == 0
    refusal = ("--ground", "NOT_HELD", "--explanation", "本局未掌握其记录")
    assert yihao("police", "assist", "refuse", record, *refusal)[0] == 0
    code, out, _ = yihao("supervision", "supervise", "--department", "education", "police")
    assert code == 0 and "电子监察 supervision report, as of 2026-06-03 10:00 北京时间" in out
    education = f"福州市教育局 ({demo.ALIASES['education']})"
    assert row_of(out, education)[1:] == ["1", "1", "1", "0", "0", "14.0", "0", "0"]
    police = f"福州市公安局 ({demo.ALIASES['police']})"
    assert row_of(out, police)[1:] == ["1", "0", "0", "1", "NOT_HELD: 1", "0", "14.0", "0", "0"]
    code, out, _ = yihao("supervision", "supervise", json_out=True)
    figures = {d["department_code"]: d for d in json.loads(out)["departments"]}
    assert figures[demo.ALIASES["education"]]["answered_on_time"] == 1
    code, out, _ = yihao("supervision", "supervise", "--from", "2026-06-02", json_out=True)
    assert code == 0 and "departments" not in json.loads(out)  # both were asked on 06-01
    code, _, err = yihao("supervision", "supervise", "--to", "2026-13-01")
    assert code != 0 and "submitted_to" in err
    assert yihao("hrss", "supervise")[0] == 1  # supervisors only


def test_a_provisional_deadline_is_marked_in_request_show_pending_and_supervise(
    yihao, clock: FixedClock
):
    clock.set(datetime(2026, 12, 28, 10, 0, tzinfo=CHINA_TZ))  # 2027 has no calendar yet
    args = ("assist", "request", "XZXZ-JY-001", GRADUATE, "--purpose", "职业资格审查")
    code, out, err = yihao("hrss", *args, "--basis", BASIS, "--case", "RS-2026-900")
    assert code == 0, err
    assert "2027-01-05 23:59 北京时间 — provisional 暂定" in out
    request_id = row_of(out, "协助申请 request")[1]
    code, out, _ = yihao("hrss", "assist", "show", request_id)
    assert "2027-01-05 23:59 北京时间 — provisional 暂定" in out
    code, out, _ = yihao("education", "assist", "pending")
    assert row_of(out, request_id)[1] == "2027-01-05 23:59 (provisional 暂定)"
    code, out, _ = yihao("supervision", "supervise", "--department", "education")
    assert "日历 calendar: no working-day calendar for 2027" in out
    assert row_of(out, "福州市教育局")[-1] == "1"  # provisional deadlines
    code, out, _ = yihao("hrss", "assist", "show", request_id, json_out=True)
    assert json.loads(out)["deadline_provisional"] is True


def test_access_as_the_portal_lists_who_read_the_holders_data(yihao, clock: FixedClock):
    marry(yihao)
    submit(
        yihao, "police", "XZXZ-MZ-001", HUSBAND, "--field", "spouse_name", purpose="户籍业务办理"
    )
    clock.advance(timedelta(hours=1))
    ref = f"{MARRIAGE}:J350100-2026-000123"
    verify = ("verify", ref, "--purpose", "公租房资格审核", "--case", "ZJ-2026-77")
    assert yihao("hall", *verify)[0] == 0
    code, out, _ = yihao("portal", "access", HUSBAND)
    assert code == 0
    hall, police = row_of(out, "福州市行政服务中心"), row_of(out, "福州市公安局")
    assert hall[0] == "2026-06-01 11:00" and hall[2:5] == [
        "verification 核验",
        "公租房资格审核",
        "ZJ-2026-77",
    ]
    assert police[2:] == [
        "assistance 行政协助",
        "户籍业务办理",
        "TEST-2026-0001",
        "婚姻登记信息核查 (XZXZ-MZ-001): spouse_name",
    ]
    assert out.index("福州市行政服务中心") < out.index("福州市公安局")  # newest first
    code, _, err = yihao("police", "access", HUSBAND)
    assert code == 1 and "PERMISSION_DENIED" in err


def test_commitments_recorded_checked_and_listed(yihao, clock: FixedClock):
    record = ("commit", "record")
    kept = ("--type", MARRIAGE, "--case", "ZJ-2026-100", "--check-by", "2026-06-10")
    code, out, _ = yihao("hall", *record, HUSBAND, *kept, "--name", "张三")
    assert code == 0 and "pending 待核查" in out and "结婚证 (11100000000013338W032)" in out
    broken = ("--type", MARRIAGE, "--case", "ZJ-2026-101", "--check-by", "2026-06-05")
    assert yihao("hall", *record, WIFE, *broken)[0] == 0
    past = ("--type", MARRIAGE, "--case", "ZJ-2026-102", "--check-by", "2026-05-01")
    code, _, err = yihao("hall", *record, WIFE, *past)
    assert code == 1 and "PAST_DATE" in err
    marry(yihao)
    code, out, _ = yihao("supervision", "commit", "check")
    assert out.startswith("1 changed") and row_of(out, "ZJ-2026-100")[1] == "kept 已履行"
    code, out, _ = yihao("supervision", "commit", "check")
    assert out.startswith("no commitment changed")
    code, out, _ = yihao("supervision", "commit", "list", "--status", "pending")
    assert "ZJ-2026-101" in out and "ZJ-2026-100" not in out
    clock.advance(timedelta(days=5))  # past 5 June in China
    code, out, _ = yihao("supervision", "commit", "check")
    assert row_of(out, "ZJ-2026-101")[1:3] == ["broken 未履行", "360426********0071"]
    code, out, _ = yihao("supervision", "supervise")
    assert "ZJ-2026-101" in out.split("未履行承诺 broken commitments")[1]
    code, out, _ = yihao("data", "commit", "list", json_out=True)
    assert len(out.splitlines()) == 2


def test_watch_lists_the_requesters_requests(yihao):
    request_id = ask_record(yihao)
    code, out, _ = yihao("hrss", "assist", "watch")
    assert code == 0 and row_of(out, request_id)[1:3] == ["XZXZ-GA-001", "pending 待办"]


def test_answer_needs_data(yihao):
    code, _, err = yihao("education", "assist", "answer", "A1")
    assert code == 2 and "--data" in err
