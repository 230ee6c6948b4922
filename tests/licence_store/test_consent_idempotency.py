"""A consent grant made once however often it is sent (``GrantConsent``'s idempotency key),
through a real server on both backends: a retry answers the first grant, the same key with
other terms is refused, concurrent identical requests make one grant, and the client library
sets a key itself so its retries are safe."""

from __future__ import annotations

import threading

import grpc
import pytest
from sqlalchemy import func, select

from clients.client import YihaoClient
from services.common.log_tables import audit_leaves
from services.licence_store import demo
from services.licence_store.domain.consent import GRANT_KIND
from tests.licence_store.consent_helpers import (
    PERSON,
    QUALIFICATION,
    audit_problems,
    expiry,
    failure,
    violations,
)
from testsupport.stack import Stack
from yihao.v1 import licence_store_pb2 as pb

KEY = "portal-grant-0001"


def request(stack: Stack, key: str = KEY, **terms) -> pb.GrantConsentRequest:
    fields = {
        "holder_number": PERSON,
        "department_code": demo.ALIASES["housing"],
        "type_codes": [QUALIFICATION],
        "case_number": "ZJ-2026-0042",
        "expires_at": expiry(stack, 30),
        "idempotency_key": key,
        **terms,
    }
    return pb.GrantConsentRequest(**fields)


def listed(stack: Stack) -> list[str]:
    """The holder's grants, as the portal lists them."""
    answer = stack.store("portal").ListConsents(pb.ListConsentsRequest(holder_number=PERSON))
    return [g.grant_id for g in answer.grants]


def logged_grants(stack: Stack) -> int:
    """How many grants the tamper-evident log holds."""
    with stack.app.db.read() as conn:
        count = select(func.count()).where(audit_leaves.c.kind == GRANT_KIND)
        return int(conn.execute(count).scalar_one())


def test_a_retry_with_the_same_key_gets_the_first_grant(stack) -> None:
    portal = stack.store("portal")
    sent = request(stack)
    first = portal.GrantConsent(sent)
    again = portal.GrantConsent(sent)
    assert again.grant_id == first.grant_id
    assert again.signature == first.signature and again.granted_at == first.granted_at
    assert listed(stack) == [first.grant_id]
    assert logged_grants(stack) == 1 and audit_problems(stack) == []
    # Without a key each request is a new grant, as before.
    bare = [portal.GrantConsent(request(stack, key="")).grant_id for _ in range(2)]
    assert len(set(bare)) == 2 and sorted(listed(stack)) == sorted([first.grant_id, *bare])


def test_the_same_key_with_other_terms_is_refused(stack) -> None:
    portal = stack.store("portal")
    first = portal.GrantConsent(request(stack))
    code, message, reason, _ = failure(
        lambda: portal.GrantConsent(request(stack, case_number="ZJ-2026-0099"))
    )
    assert (code, reason) == (grpc.StatusCode.ABORTED, "IDEMPOTENCY_KEY_REUSED")
    assert KEY in message
    assert listed(stack) == [first.grant_id]


def test_a_malformed_key_names_the_field(stack) -> None:
    portal = stack.store("portal")
    for bad in ("short", "x" * 129, "有中文的幂等键值12345", "spaces are not allowed"):
        found = violations(lambda bad=bad: portal.GrantConsent(request(stack, key=bad)))
        assert found == [("idempotency_key", "IDEMPOTENCY_KEY")], bad
    assert listed(stack) == []


def test_identical_requests_at_once_make_one_grant(stack) -> None:
    sent = request(stack, key="portal-grant-race")
    answers: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def send() -> None:
        start.wait()
        try:
            answers.append(stack.store("portal").GrantConsent(sent).grant_id)
        except grpc.RpcError as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(answers) == 6
    assert len(set(answers)) == 1 and listed(stack) == answers[:1]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_client_sets_a_key_so_a_retry_is_the_same_grant(stack) -> None:
    """The library fills ``idempotency_key`` on the request it sends (and so on its retries)."""
    with YihaoClient(stack.channel("portal"), timeout=10) as client:
        sent = request(stack, key="")
        first = client.grant_consent(sent)
        assert len(sent.idempotency_key) == 32  # set by the library, kept for a retry
        assert client.grant_consent(sent).grant_id == first.grant_id
    assert listed(stack) == [first.grant_id]
