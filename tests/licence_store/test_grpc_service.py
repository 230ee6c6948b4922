"""The licence store through a real gRPC server with mutual TLS, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.clock import FixedClock
from services.common.signing import PublicKey, canonical_json, sha256_hex
from services.licence_store import demo
from testsupport.imports import import_records
from testsupport.stack import Stack
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

BUSINESS = demo.BUSINESS_LICENCE.type_code
RESIDENCE = demo.RESIDENCE_PERMIT.type_code
COMPANY = "91350100M000100Y43"
PERSON = "11010519491231002X"

BUSINESS_FIELDS = {
    "legal_representative": "王芳",
    "company_type": "有限责任公司（自然人投资或控股）",
    "registered_capital": "500",
    "established_on": "2020-05-22",
    "address": "福州市鼓楼区五四路1号",
    "business_scope": "软件开发；信息技术咨询服务",
}
RESIDENCE_FIELDS = {
    "sex": "男",
    "domicile": "北京市西城区",
    "residence_address": "福州市台江区八一七中路2号",
    "issuing_office": "福州市公安局台江分局",
}


def issue_business(
    stack: Stack, number: str = "350100-2026-0001", key: str = "", holder: str = COMPANY
) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=key or f"issue-{number}",
            type_code=BUSINESS,
            licence_number=number,
            holder=common.Holder(number=holder, name="福州示例科技有限公司"),
            fields=BUSINESS_FIELDS,
        )
    )


def issue_residence(stack: Stack, number: str, holder: str = PERSON) -> pb.Licence:
    return stack.store("police").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"issue-{number}",
            type_code=RESIDENCE,
            licence_number=number,
            holder=common.Holder(number=holder, name="张三"),
            fields=RESIDENCE_FIELDS,
        )
    )


def by_id(licence_id: str) -> pb.LicenceRef:
    return pb.LicenceRef(licence_id=licence_id)


def status_request(licence_id: str, code: str, text: str = "") -> pb.StatusChangeRequest:
    return pb.StatusChangeRequest(licence=by_id(licence_id), reason_code=code, reason_text=text)


def details(err: grpc.RpcError) -> tuple[list[tuple[str, str, str]], str]:
    """(field violations as (field, reason, description), ErrorInfo reason) of an error."""
    status = rpc_status.from_call(err)
    assert status is not None, "every error carries a google.rpc.Status"
    violations: list[tuple[str, str, str]] = []
    reason = ""
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.reason, v.description) for v in bad.field_violations]
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
    return violations, reason


# ------------------------------------------------------------------------------ holder numbers


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("110105194912310021", "CHECK_CHARACTER"),
        ("110105194902300020", "BIRTH_DATE"),
        ("1101051949123100AX", "CHARACTER_SET"),
        ("11010519491231002", "LENGTH"),
    ],
)
def test_invalid_citizen_id_is_refused_naming_field_and_rule(stack, number, rule):
    with pytest.raises(grpc.RpcError) as caught:
        issue_residence(stack, "R-1", holder=number)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations, _ = details(caught.value)
    assert [(f, r) for f, r, _ in violations] == [("holder.number", rule)]


@pytest.mark.parametrize(
    ("number", "rule", "expected"),
    [
        ("91110000600037341M", "CHECK_CHARACTER", "'L'"),
        ("9111000060003734IL", "CHARACTER_SET", "'I'"),
        ("91110000600037342P", "ORGANISATION_CODE_CHECK", "'1'"),
    ],
)
def test_invalid_credit_code_is_refused_naming_the_rule(stack, number, rule, expected):
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, holder=number)
    violations, _ = details(caught.value)
    assert len(violations) == 1
    field, reason, description = violations[0]
    assert (field, reason) == ("holder.number", rule)
    assert expected in description


@pytest.mark.parametrize(
    "number",
    ["91110000600037341L", "914403001922038216", "91350100M000100Y43", "9135052155323005XL"],
)
def test_valid_credit_codes_are_accepted(stack, number):
    licence = issue_business(stack, number=f"N-{number}", holder=number)
    assert licence.holder.number == number


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", "360426199101010071", "320106198707105231", "51010719990228004X"],
)
def test_valid_citizen_ids_are_accepted(stack, number):
    assert issue_residence(stack, f"R-{number}", holder=number).holder.number == number


def test_legacy_15_digit_number_is_stored_as_18_and_finds_the_licence(stack):
    licence = issue_residence(stack, "R-legacy", holder="110105491231002")
    assert licence.holder.number == "11010519491231002X"
    found = stack.store("police").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(**WHY, holder_number="110105491231002")
    )
    assert [lic.licence_id for lic in found.licences] == [licence.licence_id]


def test_person_number_for_an_organisation_licence_is_refused(stack):
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, holder=PERSON)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------------------------ issuing


def test_issue_mints_a_valid_identifier_and_signs_the_canonical_content(stack):
    licence = issue_business(stack)
    assert licence.licence_id.startswith(f"1.2.156.3005.2.{BUSINESS}.{demo.ALIASES['market']}.")
    assert licence.version == 1
    assert licence.effective_status == common.EFFECTIVE_STATUS_VALID
    assert licence.type_name == "营业执照"
    assert licence.issuer_name == "福州市市场监督管理局"
    stored = stack.app.licence_store.queries.get(None, _ref(licence))  # type: ignore[arg-type]
    content = canonical_json(stored.stored.licence.content())
    assert sha256_hex(content) == licence.content_sha256
    dept = stack.store("market").GetDepartment(
        pb.GetDepartmentRequest(credit_code=demo.ALIASES["market"])
    )
    key = next(k for k in dept.signing_keys if k.key_id == licence.signature.key_id)
    public = PublicKey.from_pem(key.key_id, key.public_key_pem)
    assert public.verify(content, licence.signature.value)
    assert not public.verify(content + b" ", licence.signature.value)


def _ref(licence: pb.Licence):
    from services.licence_store.domain.reading import LicenceRef

    return LicenceRef(licence_id=licence.licence_id)


def test_retried_issue_returns_the_same_licence(stack):
    first = issue_business(stack, key="retry-key-1")
    second = issue_business(stack, key="retry-key-1")
    assert second.licence_id == first.licence_id
    listed = stack.store("market").ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(**WHY, holder_number=COMPANY)
    )
    assert len(listed.licences) == 1


def test_concurrent_retries_with_one_key_make_one_licence(stack):
    results: list[str] = []
    errors: list[Exception] = []

    def attempt() -> None:
        try:
            results.append(issue_business(stack, key="race-key-01").licence_id)
        except grpc.RpcError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1


def test_same_key_with_another_body_is_refused(stack):
    issue_business(stack, number="A-1", key="reused-key-1")
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, number="A-2", key="reused-key-1")
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert details(caught.value)[1] == "IDEMPOTENCY_KEY_REUSED"


def test_licence_number_is_unique_within_its_type(stack):
    issue_business(stack, number="DUP-1", key="dup-key-one")
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, number="DUP-1", key="dup-key-two")
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_missing_key_and_bad_fields_are_reported_together(stack):
    request = pb.IssueLicenceRequest(
        idempotency_key="fields-key-1",
        type_code=BUSINESS,
        licence_number="F-1",
        holder=common.Holder(number=COMPANY, name="x"),
        fields={"registered_capital": "five hundred", "colour": "red"},
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").IssueLicence(request)
    fields = {f: r for f, r, _ in details(caught.value)[0]}
    assert fields["fields.registered_capital"] == "DECIMAL_FORMAT"
    assert fields["fields.colour"] == "UNKNOWN_FIELD"
    assert fields["fields.legal_representative"] == "REQUIRED"


def test_idempotency_key_is_required(stack):
    with pytest.raises(grpc.RpcError) as caught:
        issue_business(stack, key="short")
    assert details(caught.value)[0][0][:2] == ("idempotency_key", "IDEMPOTENCY_KEY")


def test_department_may_only_issue_types_it_is_registered_for(stack):
    request = pb.IssueLicenceRequest(
        idempotency_key="civil-issues-business",
        type_code=BUSINESS,
        licence_number="X-1",
        holder=common.Holder(number=COMPANY, name="x"),
        fields=BUSINESS_FIELDS,
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("civil").IssueLicence(request)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(caught.value)[1] == "NOT_REGISTERED_ISSUER"
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("hall").IssueLicence(request)  # a handler, not an operator at all
    assert details(caught.value)[1] == "ROLE_REQUIRED"


# ---------------------------------------------------------------------------------- lifecycle


def test_change_makes_a_new_version_and_keeps_the_old_one_readable(stack):
    store = stack.store("market")
    v1 = issue_business(stack)
    v2 = store.ChangeLicence(
        pb.ChangeLicenceRequest(
            idempotency_key="change-key-1",
            licence=by_id(v1.licence_id),
            fields={"address": "福州市仓山区新址路8号"},
            reason="住所变更",
        )
    )
    assert v2.version == 2
    assert v2.fields["address"] == "福州市仓山区新址路8号"
    assert v2.licence_id != v1.licence_id
    old = store.GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(v2.licence_id), version=1))
    assert old.fields["address"] == BUSINESS_FIELDS["address"]
    assert old.licence_id == v1.licence_id
    # An identifier of any version names the licence.
    current = store.GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(v1.licence_id)))
    assert current.version == 2


def test_only_the_issuer_may_change_a_licence(stack):
    licence = issue_residence(stack, "R-1")
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").SuspendLicence(status_request(licence.licence_id, "INVESTIGATION"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_renew_extends_validity(stack):
    licence = issue_residence(stack, "R-renew")
    assert licence.valid_until == "2027-05-31"
    renewed = stack.store("police").RenewLicence(
        pb.RenewLicenceRequest(
            licence=by_id(licence.licence_id), valid_until="2028-05-31", reason="到期换领"
        )
    )
    assert (renewed.version, renewed.valid_until) == (2, "2028-05-31")
    history = stack.store("police").GetLicenceHistory(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert (history.events[-1].kind, history.events[-1].reason_text) == (
        pb.EVENT_KIND_RENEWED,
        "到期换领",
    )


def test_change_and_renew_reasons_are_checked_text(stack):
    licence = issue_residence(stack, "R-reason")
    for call, request in [
        (
            stack.store("police").ChangeLicence,
            pb.ChangeLicenceRequest(
                licence=by_id(licence.licence_id), holder_name="新名", reason="x" * 501
            ),
        ),
        (
            stack.store("police").RenewLicence,
            pb.RenewLicenceRequest(licence=by_id(licence.licence_id), reason="bad\x07bell"),
        ),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            call(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details(caught.value)[0][0][0] == "reason"
    again = stack.store("police").GetLicence(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert again.version == 1  # nothing was half-applied


def test_status_machine_and_illegal_transition(stack):
    store = stack.store("market")
    licence = issue_business(stack)
    suspended = store.SuspendLicence(status_request(licence.licence_id, "INVESTIGATION"))
    assert suspended.effective_status == common.EFFECTIVE_STATUS_SUSPENDED
    reinstated = store.ReinstateLicence(status_request(licence.licence_id, "INVESTIGATION_CLOSED"))
    assert reinstated.effective_status == common.EFFECTIVE_STATUS_VALID
    revoked = store.RevokeLicence(status_request(licence.licence_id, "FRAUD", "虚假登记"))
    assert revoked.status == common.LICENCE_STATUS_REVOKED
    assert (revoked.status_reason_code, revoked.status_reason_text) == ("FRAUD", "虚假登记")
    for call, code in [(store.ReinstateLicence, "OTHER"), (store.CancelLicence, "REPLACED")]:
        with pytest.raises(grpc.RpcError) as caught:
            call(status_request(licence.licence_id, code, "x"))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "REVOKED" in caught.value.details()


def test_reason_code_must_fit_the_action(stack):
    licence = issue_business(stack)
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").RevokeLicence(status_request(licence.licence_id, "HOLDER_DECEASED"))
    assert details(caught.value)[0][0][:2] == ("reason_code", "REASON_CODE")
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").CancelLicence(status_request(licence.licence_id, "OTHER"))
    assert details(caught.value)[0][0][:2] == ("reason_text", "REQUIRED")


def test_expiry_is_computed_at_the_moment_of_the_question(stack, clock: FixedClock):
    licence = issue_residence(stack, "R-expiry")
    clock.advance(timedelta(days=366))
    again = stack.store("police").GetLicence(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert again.status == common.LICENCE_STATUS_ACTIVE
    assert again.effective_status == common.EFFECTIVE_STATUS_EXPIRED


def test_history_lists_versions_and_events(stack):
    store = stack.store("market")
    licence = issue_business(stack)
    store.ChangeLicence(
        pb.ChangeLicenceRequest(
            licence=by_id(licence.licence_id), holder_name="福州新名称有限公司", reason="更名"
        )
    )
    store.RevokeLicence(status_request(licence.licence_id, "VIOLATION"))
    history = store.GetLicenceHistory(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert [v.version for v in history.versions] == [1, 2]
    assert [e.kind for e in history.events] == [
        pb.EVENT_KIND_ISSUED,
        pb.EVENT_KIND_CHANGED,
        pb.EVENT_KIND_REVOKED,
    ]
    assert history.events[-1].reason_code == "VIOLATION"
    assert (history.events[1].reason_code, history.events[1].reason_text) == ("", "更名")
    assert history.events[0].reason_text == ""


def test_unknown_licence_is_not_found(stack):
    missing = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(missing)))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    ref = pb.LicenceRef(type_and_number=pb.TypeAndNumber(type_code=BUSINESS, licence_number="no"))
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicence(pb.GetLicenceRequest(**WHY, licence=ref))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_identifier_is_invalid_argument(stack):
    bad = (
        "1.2.156.3005.2.11100000000013661B006.113700000045046442."
        "209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(bad)))
    violations, _ = details(caught.value)
    assert violations[0][:2] == ("licence.licence_id", "CHECK_CHARACTER")
    assert "'D'" in violations[0][2]


# ------------------------------------------------------------------------------------ queries


def test_list_by_holder_filters_and_pages(stack):
    for i in range(5):
        issue_residence(stack, f"R-{i}")
    store = stack.store("police")
    store.CancelLicence(
        status_request(
            store.GetLicence(
                pb.GetLicenceRequest(
                    **WHY,
                    licence=pb.LicenceRef(
                        type_and_number=pb.TypeAndNumber(type_code=RESIDENCE, licence_number="R-0")
                    ),
                )
            ).licence_id,
            "REPLACED",
        )
    )
    seen, token = [], ""
    while True:
        page = store.ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(
                **WHY, holder_number=PERSON, page_size=2, page_token=token
            )
        )
        seen += [lic.licence_number for lic in page.licences]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == [f"R-{i}" for i in range(5)]
    active = store.ListLicencesByHolder(
        pb.ListLicencesByHolderRequest(
            **WHY,
            holder_number=PERSON,
            statuses=[common.LICENCE_STATUS_ACTIVE],
            type_codes=[RESIDENCE],
        )
    )
    assert sorted(lic.licence_number for lic in active.licences) == [f"R-{i}" for i in range(1, 5)]


def test_bad_page_token_and_size_are_invalid(stack):
    store = stack.store("police")
    for request in (
        pb.ListLicencesByHolderRequest(**WHY, holder_number=PERSON, page_token="garbage!"),
        pb.ListLicencesByHolderRequest(**WHY, holder_number=PERSON, page_size=100000),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            store.ListLicencesByHolder(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_events_from_a_cursor_and_following(stack):
    store = stack.store("market")
    first = issue_business(stack, number="W-1")
    backlog = list(store.WatchEvents(pb.WatchEventsRequest(after_cursor=0)))
    assert [(e.kind, e.licence_id) for e in backlog] == [(pb.EVENT_KIND_ISSUED, first.licence_id)]
    stream = store.WatchEvents(pb.WatchEventsRequest(after_cursor=backlog[-1].cursor, follow=True))
    second = issue_business(stack, number="W-2")
    event = next(stream)
    assert (event.licence_id, event.cursor > backlog[-1].cursor) == (second.licence_id, True)
    stream.cancel()


def test_watch_events_newest_first_pages_backwards(stack):
    store = stack.store("market")
    ids = [issue_business(stack, number=f"N-{i}").licence_id for i in range(5)]
    first = list(store.WatchEvents(pb.WatchEventsRequest(newest_first=True, limit=2)))
    assert [e.licence_id for e in first] == ids[:-3:-1]  # the two newest, newest first
    second = list(
        store.WatchEvents(
            pb.WatchEventsRequest(newest_first=True, before_cursor=first[-1].cursor, limit=2)
        )
    )
    assert [e.licence_id for e in second] == [ids[2], ids[1]]
    rest = pb.WatchEventsRequest(newest_first=True, before_cursor=second[-1].cursor)
    assert [e.licence_id for e in store.WatchEvents(rest)] == [ids[0]]  # default limit: 50
    for bad in (
        pb.WatchEventsRequest(newest_first=True, follow=True),
        pb.WatchEventsRequest(newest_first=True, after_cursor=3),
        pb.WatchEventsRequest(newest_first=True, limit=501),
        pb.WatchEventsRequest(newest_first=True, before_cursor=-1),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            list(store.WatchEvents(bad))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------------------- bulk import


def _record(line: int, number: str, holder: str = COMPANY, **overrides: str) -> pb.ImportRecord:
    fields = {**BUSINESS_FIELDS, **overrides}
    return pb.ImportRecord(
        line=line,
        licence=pb.IssueLicenceRequest(
            idempotency_key=f"import:{BUSINESS}:{number}",
            type_code=BUSINESS,
            licence_number=number,
            holder=common.Holder(number=holder, name=f"企业{line}"),
            fields=fields,
        ),
    )


def _import_file(n: int) -> tuple[list[pb.ImportRecord], set[int]]:
    records, bad = [], set()
    for line in range(1, n + 1):
        if line % 100 == 7:
            bad.add(line)
            records.append(_record(line, f"IMP-{line}", holder="91110000600037341M"))
        else:
            records.append(_record(line, f"IMP-{line}"))
    return records, bad


def test_import_10000_records_with_1_percent_bad_is_exact_and_repeatable(stack):
    records, bad = _import_file(10_000)
    results = list(import_records(stack.store("market"), records, per_message=1000))
    assert sorted(r.line for r in results) == list(range(1, 10_001))
    rejected = {r.line: r for r in results if r.outcome == pb.IMPORT_OUTCOME_REJECTED}
    assert set(rejected) == bad
    assert all(
        r.reason_code == "CHECK_CHARACTER" and "holder.number" in r.reason
        for r in rejected.values()
    )
    accepted = [r for r in results if r.outcome == pb.IMPORT_OUTCOME_ACCEPTED]
    assert len(accepted) == 10_000 - len(bad)
    again = list(import_records(stack.store("market"), records, per_message=7))
    assert sum(r.outcome == pb.IMPORT_OUTCOME_DUPLICATE for r in again) == len(accepted)
    assert {r.line for r in again if r.outcome == pb.IMPORT_OUTCOME_REJECTED} == bad
    assert not any(r.outcome == pb.IMPORT_OUTCOME_ACCEPTED for r in again)
    with stack.app.db.read() as conn:
        from sqlalchemy import func, select

        from services.licence_store.persistence.tables import licence_events, licences

        assert conn.execute(select(func.count()).select_from(licences)).scalar() == len(accepted)
        assert conn.execute(select(func.count()).select_from(licence_events)).scalar() == len(
            accepted
        )


def test_import_rejects_bad_records_without_touching_good_ones_in_the_same_batch(stack):
    records = [
        _record(1, "B-1"),
        _record(2, "B-1"),  # same number again, different key: taken
        _record(3, "B-3", established_on="2020-02-30"),
        _record(4, "B-4"),
    ]
    records[1].licence.idempotency_key = "another-key-for-B-1"
    results = {r.line: r for r in import_records(stack.store("market"), records)}
    assert results[1].outcome == pb.IMPORT_OUTCOME_ACCEPTED
    assert (results[2].outcome, results[2].reason_code) == (
        pb.IMPORT_OUTCOME_REJECTED,
        "LICENCE_NUMBER_TAKEN",
    )
    assert (results[3].outcome, results[3].reason_code) == (
        pb.IMPORT_OUTCOME_REJECTED,
        "DATE_FORMAT",
    )
    assert results[4].outcome == pb.IMPORT_OUTCOME_ACCEPTED


def test_import_answers_a_paused_stream_without_waiting_for_a_full_batch(stack):
    got_results = threading.Event()

    def records():
        yield from (_record(i, f"P-{i}") for i in (1, 2, 3))
        assert got_results.wait(10), "results never came while the stream was open"

    stream = import_records(stack.store("market"), records(), per_message=1)
    first = [next(stream) for _ in range(3)]
    got_results.set()
    assert {r.line for r in first} == {1, 2, 3}
    assert all(r.outcome == pb.IMPORT_OUTCOME_ACCEPTED for r in first)
    assert list(stream) == []


def test_import_answers_many_records_per_message_in_order_and_at_most_1000_per_response(stack):
    records = [_record(line, f"M-{line}") for line in range(1, 2501)]
    messages = [
        pb.ImportLicencesRequest(records=records[:1000]),
        pb.ImportLicencesRequest(),  # an empty message is allowed and adds nothing
        pb.ImportLicencesRequest(records=records[1000:2000]),
        pb.ImportLicencesRequest(records=records[2000:]),
    ]
    responses = list(stack.store("market").ImportLicences(iter(messages)))
    assert all(len(r.results) <= 1000 for r in responses)
    results = [result for r in responses for result in r.results]
    assert [r.line for r in results] == list(range(1, 2501))
    assert all(r.outcome == pb.IMPORT_OUTCOME_ACCEPTED for r in results)


def test_import_gives_records_that_share_a_line_number_a_result_each(stack):
    records = [_record(0, f"L-{i}") for i in range(3)] + [_record(5, "L-5"), _record(5, "L-5")]
    records[-1].licence.idempotency_key = "other-key-for-L-5"
    results = list(import_records(stack.store("market"), records))
    assert [r.line for r in results] == [0, 0, 0, 5, 5]
    assert [r.outcome for r in results] == [pb.IMPORT_OUTCOME_ACCEPTED] * 4 + [
        pb.IMPORT_OUTCOME_REJECTED
    ]
    assert len({r.licence_id for r in results[:4]}) == 4


def test_import_message_over_1000_records_ends_the_stream_after_answering_earlier_ones(stack):
    first = [_record(line, f"O-{line}") for line in (1, 2)]
    oversized = [_record(line, f"O-{line}") for line in range(3, 1004)]
    messages = iter(
        [pb.ImportLicencesRequest(records=first), pb.ImportLicencesRequest(records=oversized)]
    )
    answered = []
    with pytest.raises(grpc.RpcError) as caught:
        for response in stack.store("market").ImportLicences(messages):
            answered.extend(response.results)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations, _ = details(caught.value)
    assert [(f, r) for f, r, _ in violations] == [("records", "TOO_MANY_RECORDS")]
    assert "at most 1000" in violations[0][2]
    assert [r.line for r in answered] == [1, 2]
    assert all(r.outcome == pb.IMPORT_OUTCOME_ACCEPTED for r in answered)
    again = list(import_records(stack.store("market"), oversized[:3]))
    assert [r.outcome for r in again] == [pb.IMPORT_OUTCOME_ACCEPTED] * 3  # none was stored


def test_import_rejects_a_record_with_a_nul_alone_in_its_message(stack):
    records = [_record(1, "N-1"), _record(2, "N-2"), _record(3, "N-3")]
    records[1].licence.holder.name = "企业\x00"
    results = list(import_records(stack.store("market"), records))
    assert [r.outcome for r in results] == [
        pb.IMPORT_OUTCOME_ACCEPTED,
        pb.IMPORT_OUTCOME_REJECTED,
        pb.IMPORT_OUTCOME_ACCEPTED,
    ]
    assert results[1].reason_code == "CHARACTER_SET" and "holder.name" in results[1].reason
