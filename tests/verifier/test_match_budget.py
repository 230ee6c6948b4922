"""No oracle by volume (issue 20, item 3): a department gets a small daily budget of MISMATCH
answers per licence and per holder; past it, holder matching is refused (never MATCH or
MISMATCH), supervision is alerted, and the budget holds across server processes sharing Redis.
Questions inside a call are charged to the department's limits one by one."""

from __future__ import annotations

import collections
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from services.common.clock import FixedClock
from services.common.errors import ResourceExhausted
from services.common.match_budget import (
    BUDGET_EXHAUSTED,
    Alert,
    LocalCounters,
    MatchBudget,
    RedisCounters,
    Subject,
)
from services.common.ratelimit import Limit, LocalBuckets, RateLimiter, parse_limits
from services.licence_store import demo
from testsupport.processes import RedisServer
from testsupport.serverproc import server_process
from testsupport.stack import Stack, settings_for, start_stack
from testsupport.why import WHY
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as agrpc
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import licence_store_pb2_grpc as pb_grpc
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
HOLDER = "11010519491231002X"  # region 110105, born 1949-12-31, sequence 002
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def candidates(prefix: str = "11010519491231") -> list[str]:
    """Every ID number of a known region and birth date: 1,000 sequence codes."""
    out = []
    for seq in range(1000):
        body = f"{prefix}{seq:03d}"
        out.append(
            body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]
        )
    return out


def issue_permit(store: pb_grpc.LicenceStoreStub, number: str = "R-2026-0100") -> pb.Licence:
    return store.IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"budget-{number}",
            type_code=demo.RESIDENCE_PERMIT.type_code,
            licence_number=number,
            holder=common.Holder(number=HOLDER, name="张三"),
            fields={
                "sex": "男",
                "domicile": "北京市西城区",
                "residence_address": "福州市台江区八一七中路2号",
                "issuing_office": "福州市公安局台江分局",
            },
        )
    )


def guesses(licence_id: str, numbers: list[str] = (), names: list[str] = ()) -> list:
    ref = pb.LicenceRef(licence_id=licence_id)
    return [
        vpb.VerifyLicenceRequest(licence=ref, presented_holder_number=n, **WHY) for n in numbers
    ] + [vpb.VerifyLicenceRequest(licence=ref, presented_holder_name=n, **WHY) for n in names]


def batch(stub: vgrpc.VerifierStub, items: list) -> list[vpb.Verification]:
    chunks = [vpb.VerifyBatchRequest(items=items[i : i + 1000]) for i in range(0, len(items), 1000)]
    return [v for r in stub.VerifyBatch(iter(chunks), timeout=120) for v in r.results]


def test_a_batch_of_thousands_of_guesses_is_refused_after_the_budget(stack: Stack):
    licence = issue_permit(stack.store("police"))
    numbers = [n for n in candidates() if n != HOLDER] + [HOLDER]  # the right one last
    names = [f"张{chr(0x4E00 + i)}" for i in range(2000)] + ["张三"]
    answers = batch(stack.verifier("hall"), guesses(licence.licence_id, numbers, names))
    matches = [
        a.holder_name_match
        if a.holder_number_match == vpb.HOLDER_MATCH_NOT_PRESENTED
        else a.holder_number_match
        for a in answers
    ]
    mismatches = [i for i, m in enumerate(matches) if m == vpb.HOLDER_MATCH_MISMATCH]
    assert mismatches == list(range(10))  # the budget: 10 a day per licence and holder
    rest = answers[10:]
    assert collections.Counter(matches[10:]) == {vpb.HOLDER_MATCH_REFUSED: len(matches) - 10}, (
        "never MATCH nor MISMATCH again"
    )
    assert {a.holder_match_refusal for a in rest} == {BUDGET_EXHAUSTED}
    assert {a.verdict for a in answers} == {vpb.VERDICT_VALID}  # the verdict is still answered
    report = stack.assistance("supervision").Supervise(apb.SuperviseRequest())
    assert [(a.department_code, a.kind) for a in report.alerts] == [
        (demo.ALIASES["hall"], BUDGET_EXHAUSTED),
        (demo.ALIASES["hall"], BUDGET_EXHAUSTED),
    ]  # one for the licence, one for its holder
    assert {a.subject.split(" ")[0] for a in report.alerts} == {"licence", "holder"}
    assert all(HOLDER not in a.subject for a in report.alerts)


def test_the_budget_is_per_department_and_per_day(stack: Stack, clock: FixedClock):
    licence = issue_permit(stack.store("police"))
    wrong = [n for n in candidates() if n != HOLDER][:10]
    for alias in ("hall", "housing"):
        answers = batch(stack.verifier(alias), guesses(licence.licence_id, wrong))
        assert {a.holder_number_match for a in answers} == {vpb.HOLDER_MATCH_MISMATCH}
    single = stack.verifier("hall").VerifyLicence(guesses(licence.licence_id, [HOLDER])[0])
    assert single.holder_number_match == vpb.HOLDER_MATCH_REFUSED
    clock.advance(timedelta(days=1))
    again = stack.verifier("hall").VerifyLicence(guesses(licence.licence_id, [HOLDER])[0])
    assert again.holder_number_match == vpb.HOLDER_MATCH_MATCH


def test_another_licence_of_the_same_holder_is_refused_too(stack: Stack):
    police = stack.store("police")
    first, second = issue_permit(police, "R-2026-0201"), issue_permit(police, "R-2026-0202")
    batch(stack.verifier("hall"), guesses(first.licence_id, candidates()[3:13]))
    answer = stack.verifier("hall").VerifyLicence(guesses(second.licence_id, [HOLDER])[0])
    assert answer.holder_number_match == vpb.HOLDER_MATCH_REFUSED


def test_the_budget_holds_across_two_server_processes_sharing_redis(redis_server: RedisServer):
    env = {"REDIS_URL": redis_server.url, "YIHAO_MISMATCH_BUDGET": "10"}
    with server_process(None, **env) as one:
        second = server_process(None, var_dir=one.var_dir, **env)  # same data, another process
        with second as two:
            licence = issue_permit(pb_grpc.LicenceStoreStub(one.channel("police")))
            wrong = [n for n in candidates() if n != HOLDER]
            first = guesses(licence.licence_id, wrong[:6])
            a = batch(vgrpc.VerifierStub(one.channel("hall")), first)
            then = guesses(licence.licence_id, [*wrong[6:900], HOLDER])
            b = batch(vgrpc.VerifierStub(two.channel("hall")), then)
            seen = [v.holder_number_match for v in a + b]
            assert seen == [vpb.HOLDER_MATCH_MISMATCH] * 10 + [vpb.HOLDER_MATCH_REFUSED] * 891
            report = agrpc.AssistanceStub(two.channel("supervision")).Supervise(
                apb.SuperviseRequest()
            )
            assert len(report.alerts) == 2


def test_budget_and_counters_unit(redis_server: RedisServer):
    alerts: list[Alert] = []
    for counters in (LocalCounters(), RedisCounters(redis_server.url)):
        alerts.clear()
        budget = MatchBudget(counters, FixedClock(T0), per_day=3, alert=alerts.append)
        subject = Subject(f"L{id(counters)}", f"H{id(counters)}", "licence L", "holder H")
        assert budget.exhausted("D", [subject]) == [False]
        assert [budget.spend("D", subject) for _ in range(4)] == [2, 1, 0, -1]
        assert budget.exhausted("D", [subject]) == [True]
        assert budget.exhausted("E", [subject]) == [False]  # per department
        assert [a.subject for a in alerts] == ["licence L", "holder H"]
    dead = RedisCounters("redis://127.0.0.1:1/0")  # nothing listens there: local, never fails
    assert dead.incr(["yihao:mm:2026-06-01:D:l:x"]) == [1]


def test_questions_are_charged_one_by_one():
    limiter = RateLimiter(LocalBuckets(), {**parse_limits(None), "holder_match": Limit(1, 50)})
    limiter.charge("A", "holder_match", 50)
    with pytest.raises(ResourceExhausted):
        limiter.charge("A", "holder_match", 1)
    with pytest.raises(ResourceExhausted, match="send fewer"):
        limiter.charge("B", "holder_match", 51)
    limiter.charge("B", "holder_match", 0)


def test_a_batch_past_the_departments_question_limit_is_refused(stack_small_limits):
    stack, licence = stack_small_limits
    with pytest.raises(grpc.RpcError) as caught:
        batch(stack.verifier("hall"), guesses(licence.licence_id, candidates()[:30]))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def stack_small_limits(database_url, pki, tmp_path):
    limits = json.dumps({"holder_match": [1, 20]})
    s = start_stack(settings_for(database_url, tmp_path, pki, rate_limits_json=limits), pki)
    try:
        yield s, issue_permit(s.store("police"))
    finally:
        s.stop()
