"""Administrative assistance end to end, through real gRPC servers with an injectable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.common.clock import CHINA_TZ, FixedClock
from services.licence_store import demo
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

HUSBAND = "11010519491231002X"
WIFE = "360426199101010071"
GRADUATE = "320106198707105231"
MONDAY_10AM = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in China, a working Monday


def marry(stack: Stack) -> pb.Licence:
    return stack.store("civil").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="marriage-0001",
            type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            licence_number="J350100-2026-000123",
            holder=common.Holder(number=HUSBAND, name="张三"),
            fields={
                "spouse_name": "李四",
                "spouse_id_number": WIFE,
                "registered_on": "2026-05-20",
                "registration_office": "福州市鼓楼区民政局婚姻登记处",
                "certificate_serial": "J350102-2026-000123",
            },
        )
    )


def submit(
    stack: Stack, alias: str, item: str, holder: str, key: str, **kw
) -> apb.AssistanceRequest:
    return stack.assistance(alias).SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key=key,
            item_code=item,
            holder_number=holder,
            purpose=kw.pop("purpose", "户籍业务办理"),
            legal_basis=kw.pop("legal_basis", "《中华人民共和国户口登记条例》第十九条"),
            case_number=kw.pop("case_number", "GA-2026-0601-001"),
            **kw,
        )
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY_10AM)


def test_automatic_item_is_answered_at_once_with_granted_fields_only(stack):
    marry(stack)
    answered = submit(
        stack,
        "police",
        "XZXZ-MZ-001",
        HUSBAND,
        "auto-req-1",
        requested_fields=["spouse_name", "spouse_id_number", "registered_on"],
    )
    assert answered.status == apb.REQUEST_STATUS_ANSWERED
    assert dict(answered.answer) == {
        "result": "FOUND",
        "spouse_name": "李四",  # sensitive, but the item grants it unmasked
        "spouse_id_number": "360426********0071",  # sensitive: masked
        "registered_on": "2026-05-20",
    }
    assert not answered.overdue
    assert answered.holder_number == "110105********002X"
    nothing = submit(stack, "police", "XZXZ-MZ-001", WIFE, "auto-req-2")
    assert dict(nothing.answer) == {"result": "NO_RECORD"}


def test_fields_outside_the_item_and_missing_conditions_are_named(stack):
    with pytest.raises(grpc.RpcError) as caught:
        submit(
            stack,
            "police",
            "XZXZ-MZ-001",
            HUSBAND,
            "bad-fields-1",
            requested_fields=["spouse_name", "income", "religion"],
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "income, religion" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        submit(stack, "police", "XZXZ-MZ-001", HUSBAND, "bad-basis-1", legal_basis="")
    assert "legal_basis" in caught.value.details()


def test_department_without_the_grant_is_refused(stack):
    with pytest.raises(grpc.RpcError) as caught:
        submit(stack, "housing", "XZXZ-JY-001", GRADUATE, "not-granted-1", purpose="职业资格审查")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as caught:  # not even a requester
        submit(stack, "portal", "XZXZ-MZ-001", HUSBAND, "not-granted-2")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_manual_item_answered_two_working_days_later(stack, clock: FixedClock):
    pending = submit(stack, "hrss", "XZXZ-JY-001", GRADUATE, "manual-req-1", purpose="职业资格审查")
    assert pending.status == apb.REQUEST_STATUS_PENDING
    # 5 working days after Monday 1 June 2026 (Dragon Boat is 19 June): Monday 8 June, end of day.
    assert (
        pending.deadline.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ).date().isoformat()
        == "2026-06-08"
    )
    queue = stack.assistance("education").ListPending(apb.ListRequestsRequest())
    assert [r.request_id for r in queue.requests] == [pending.request_id]
    assert queue.requests[0].holder_number == GRADUATE  # the provider needs it whole
    clock.advance(timedelta(days=2))  # Wednesday
    answered = stack.assistance("education").Answer(
        apb.AnswerRequest(
            request_id=pending.request_id,
            data={
                "degree": "工学学士",
                "major": "软件工程",
                "institution": "福州大学",
                "graduated_on": "2009-07-01",
            },
        )
    )
    assert (answered.status, answered.overdue) == (apb.REQUEST_STATUS_ANSWERED, False)
    mine = stack.assistance("hrss").GetRequest(apb.GetRequestRequest(request_id=pending.request_id))
    assert mine.answer["institution"] == "福州大学"
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    education = next(
        d for d in report.departments if d.department_code == demo.ALIASES["education"]
    )
    assert (education.requests, education.answered, education.answered_on_time) == (1, 1, 1)
    assert education.median_response_working_hours == 14.0  # two full office days of 7 h


def test_deadline_before_national_day(stack, clock: FixedClock):
    clock.set(datetime(2026, 9, 30, 10, 0, tzinfo=CHINA_TZ))  # the last working day before 国庆
    request = submit(
        stack, "hrss", "XZXZ-JY-001", GRADUATE, "holiday-req-1", purpose="职业资格审查"
    )
    deadline = request.deadline.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ)
    # Oct 1-7 off; Oct 8, 9, 10 (adjusted working Saturday), 12, 13: the 5th working day.
    assert deadline.date().isoformat() == "2026-10-13"
    assert (deadline.hour, deadline.minute) == (23, 59)


def test_overdue_request_appears_in_supervision_and_urging_is_recorded(stack, clock: FixedClock):
    late = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "overdue-req-1")
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    assert not report.overdue
    clock.advance(timedelta(days=8))  # past the 5th working day
    urged = stack.assistance("hrss").Urge(
        apb.UrgeRequest(request_id=late.request_id, note="请尽快办理")
    )
    assert [u.note for u in urged.urgings] == ["请尽快办理"]
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    assert [r.request_id for r in report.overdue] == [late.request_id]
    police = next(d for d in report.departments if d.department_code == demo.ALIASES["police"])
    assert (police.requests, police.overdue_now, police.urgings) == (1, 1, 1)
    answered = stack.assistance("police").Answer(
        apb.AnswerRequest(
            request_id=late.request_id, data={"has_record": "false", "scope": "福建省"}
        )
    )
    assert answered.overdue  # decided, but after the deadline
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    police = next(d for d in report.departments if d.department_code == demo.ALIASES["police"])
    assert (police.overdue_now, police.answered, police.answered_on_time) == (0, 1, 0)


def test_supervision_reports_a_period_and_caps_the_overdue_list(stack, clock: FixedClock):
    first = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "period-req-1")
    clock.advance(timedelta(days=1))
    second = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "period-req-2")
    clock.advance(timedelta(days=14))  # both long overdue
    day_one = first.submitted_at.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ).date().isoformat()
    day_two = second.submitted_at.ToDatetime(tzinfo=UTC).astimezone(CHINA_TZ).date().isoformat()
    police_code = demo.ALIASES["police"]

    def police(**period: str) -> apb.DepartmentFigures:
        report = stack.assistance("supervision").Supervise(
            apb.SuperviseRequest(department_codes=[police_code], **period)
        )
        return report.departments[0]

    assert police().requests == 2
    assert police(submitted_to=day_one).requests == 1
    assert police(submitted_from=day_two).requests == 1
    assert police(submitted_from=day_one, submitted_to=day_one).overdue_now == 1
    later = (clock.now().astimezone(CHINA_TZ).date() + timedelta(days=1)).isoformat()
    assert police(submitted_from=later).requests == 0
    capped = stack.assistance("supervision").Supervise(apb.SuperviseRequest(max_overdue=1))
    assert [r.request_id for r in capped.overdue] == [first.request_id]  # most overdue first
    for bad, field in [
        (apb.SuperviseRequest(submitted_from="2026-02-30"), "submitted_from"),
        (apb.SuperviseRequest(submitted_from=day_two, submitted_to=day_one), "submitted_to"),
        (apb.SuperviseRequest(max_overdue=1001), "max_overdue"),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            stack.assistance("supervision").Supervise(bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in caught.value.details()


def test_refusal_only_on_a_listed_ground(stack):
    request = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "refuse-req-1")
    with pytest.raises(grpc.RpcError) as caught:
        stack.assistance("police").Refuse(
            apb.RefuseRequest(
                request_id=request.request_id, ground="COMMERCIAL_SECRET", explanation="不便提供"
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "STATE_SECRET, PERSONAL_PRIVACY, NOT_HELD" in caught.value.details()
    refused = stack.assistance("police").Refuse(
        apb.RefuseRequest(
            request_id=request.request_id,
            ground="NOT_HELD",
            explanation="该人员户籍不在本市，本局未掌握其记录",
        )
    )
    assert (refused.status, refused.refusal_ground) == (apb.REQUEST_STATUS_REFUSED, "NOT_HELD")
    with pytest.raises(grpc.RpcError) as caught:
        stack.assistance("police").Answer(
            apb.AnswerRequest(request_id=request.request_id, data={"scope": "x"})
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    police = next(d for d in report.departments if d.department_code == demo.ALIASES["police"])
    assert dict(police.refusals_by_ground) == {"NOT_HELD": 1}


def test_only_the_parties_see_a_request(stack):
    request = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "privacy-req-1")
    for outsider in ("hall", "civil"):
        with pytest.raises(grpc.RpcError) as caught:
            stack.assistance(outsider).GetRequest(
                apb.GetRequestRequest(request_id=request.request_id)
            )
        assert caught.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(grpc.RpcError) as caught:
        stack.assistance("market").Answer(
            apb.AnswerRequest(request_id=request.request_id, data={"scope": "x"})
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_retried_submission_returns_the_same_request(stack):
    first = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "retry-req-01")
    again = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "retry-req-01")
    assert again.request_id == first.request_id
    with pytest.raises(grpc.RpcError) as caught:
        submit(stack, "hrss", "XZXZ-GA-001", HUSBAND, "retry-req-01")
    assert caught.value.code() == grpc.StatusCode.ABORTED


def test_access_record_lists_exactly_the_reads_that_happened(stack):
    licence = marry(stack)
    submit(
        stack, "police", "XZXZ-MZ-001", HUSBAND, "access-req-1", requested_fields=["spouse_name"]
    )
    stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id),
            purpose="公租房资格审核",
            case_number="ZJ-2026-77",
        )
    )
    stack.store("civil").ListLicencesByHolder(  # the issuer: it may read the content
        pb.ListLicencesByHolderRequest(
            holder_number=HUSBAND, purpose="婚姻登记档案查询", case_number="MZ-2026-0002"
        )
    )
    submit(stack, "police", "XZXZ-MZ-001", WIFE, "access-req-2")  # another holder: not his
    records = (
        stack.assistance("portal")
        .ListAccessRecords(apb.ListAccessRecordsRequest(holder_number=HUSBAND))
        .records
    )
    assert [(r.department_code, r.channel, r.purpose) for r in records] == [
        (demo.ALIASES["civil"], "licence_store", "婚姻登记档案查询"),
        (demo.ALIASES["hall"], "verification", "公租房资格审核"),
        (demo.ALIASES["police"], "assistance", "户籍业务办理"),
    ]
    assert records[1].case_number == "ZJ-2026-77"
    assert records[2].what.startswith("婚姻登记信息核查 (XZXZ-MZ-001): spouse_name")
    with pytest.raises(grpc.RpcError) as caught:  # only the holder portal serves this
        stack.assistance("police").ListAccessRecords(
            apb.ListAccessRecordsRequest(holder_number=HUSBAND)
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_commitments_kept_and_broken(stack, clock: FixedClock):
    hall = stack.assistance("hall")
    kept = hall.RecordCommitment(
        apb.RecordCommitmentRequest(
            applicant_number=HUSBAND,
            applicant_name="张三",
            licence_type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            case_number="ZJ-2026-100",
            check_by="2026-06-10",
        )
    )
    broken = hall.RecordCommitment(
        apb.RecordCommitmentRequest(
            applicant_number=WIFE,
            licence_type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            case_number="ZJ-2026-101",
            check_by="2026-06-05",
        )
    )
    marry(stack)
    changed = stack.assistance("supervision").CheckCommitments(apb.CheckCommitmentsRequest())
    assert [(c.commitment_id, c.status) for c in changed.commitments] == [
        (kept.commitment_id, apb.COMMITMENT_STATUS_KEPT)
    ]
    clock.advance(timedelta(days=5))  # past 5 June in China
    changed = stack.assistance("supervision").CheckCommitments(apb.CheckCommitmentsRequest())
    assert [(c.commitment_id, c.status) for c in changed.commitments] == [
        (broken.commitment_id, apb.COMMITMENT_STATUS_BROKEN)
    ]
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    assert [c.commitment_id for c in report.broken_commitments] == [broken.commitment_id]
    assert report.broken_commitments[0].applicant_number == "360426********0071"


def test_items_list_with_filters(stack):
    items = stack.assistance("hrss").ListItems(
        apb.ListItemsRequest(requester_code=demo.ALIASES["hrss"])
    )
    assert {i.code for i in items.items} == {"XZXZ-SC-001", "XZXZ-JY-001", "XZXZ-GA-001"}
    manual = stack.assistance("hrss").ListItems(
        apb.ListItemsRequest(procedure=apb.PROCEDURE_MANUAL)
    )
    assert {i.code for i in manual.items} == {"XZXZ-JY-001", "XZXZ-GA-001"}
    assert all(i.time_limit_working_days and i.refusal_grounds for i in manual.items)


def test_watch_my_requests_streams_updates(stack):
    request = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "watch-req-1")
    stream = stack.assistance("hrss").WatchMyRequests(apb.WatchMyRequestsRequest(follow=True))
    first = next(stream)
    assert (first.request_id, first.status) == (request.request_id, apb.REQUEST_STATUS_PENDING)
    stack.assistance("police").Answer(
        apb.AnswerRequest(request_id=request.request_id, data={"has_record": "false"})
    )
    update = next(stream)
    assert (update.request_id, update.status) == (request.request_id, apb.REQUEST_STATUS_ANSWERED)
    stream.cancel()


def test_watch_backlog_holds_only_open_requests(stack):
    done = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "backlog-req-1")
    still_open = submit(stack, "hrss", "XZXZ-GA-001", HUSBAND, "backlog-req-2")
    stack.assistance("police").Answer(
        apb.AnswerRequest(request_id=done.request_id, data={"scope": "x"})
    )
    backlog = list(stack.assistance("hrss").WatchMyRequests(apb.WatchMyRequestsRequest()))
    assert [r.request_id for r in backlog] == [still_open.request_id]


def test_a_department_lists_only_its_own_commitments(stack):
    request = apb.RecordCommitmentRequest(
        applicant_number=HUSBAND,
        licence_type_code=demo.MARRIAGE_CERTIFICATE.type_code,
        case_number="C-1",
        check_by="2026-06-30",
    )
    mine = stack.assistance("hall").RecordCommitment(request)
    stack.assistance("police").RecordCommitment(request)
    assert [
        c.commitment_id
        for c in stack.assistance("hall").ListCommitments(apb.ListCommitmentsRequest()).commitments
    ] == [mine.commitment_id]
    assert (
        len(
            stack.assistance("supervision")
            .ListCommitments(apb.ListCommitmentsRequest())
            .commitments
        )
        == 2
    )


def test_no_oracle_between_not_yours_and_does_not_exist(stack):
    real = submit(stack, "hrss", "XZXZ-GA-001", GRADUATE, "oracle-req-1")
    ghost = real.request_id[:-4] + ("0000" if real.request_id[-4:] != "0000" else "1111")
    answers = []
    for request_id in (real.request_id, ghost):
        for call in (
            lambda rid: stack.assistance("civil").GetRequest(apb.GetRequestRequest(request_id=rid)),
            lambda rid: stack.assistance("market").Answer(
                apb.AnswerRequest(request_id=rid, data={"scope": "x"})
            ),
        ):
            with pytest.raises(grpc.RpcError) as caught:
                call(request_id)
            answers.append(
                (caught.value.code(), caught.value.details().replace(request_id, "<id>"))
            )
    assert answers[:2] == answers[2:]  # same code and message, exists or not
    assert {code for code, _ in answers} == {grpc.StatusCode.NOT_FOUND}
