"""Key marks are log entries: a compromise mark cleared behind the log makes the key
untrusted (never the stolen key's later signatures VALID again), and audit verify names it."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import update

from services.audit import verify as audit_verify
from services.common.clock import FixedClock
from services.licence_store.key_log import key_ref, logged_marks
from services.licence_store.persistence.tables import department_keys
from tests.verifier.test_verify_service import issue, verify
from testsupport.stack import Stack
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb


def audit(stack: Stack):
    with stack.app.db.read() as conn:
        return audit_verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)


def test_every_key_change_is_logged_and_a_cleared_mark_is_refused(stack: Stack, clock: FixedClock):
    before = issue(stack, number="K-1")
    clock.advance(timedelta(hours=1))
    exposed = clock.now()
    clock.advance(timedelta(hours=1))
    after = issue(stack, number="K-2")  # signed after the exposure found later
    key_id = after.signature.key_id
    ts = Timestamp()
    ts.FromDatetime(exposed)
    stack.store("data").MarkKeyCompromised(
        pb.MarkKeyCompromisedRequest(key_id=key_id, compromised_at=ts)
    )
    with stack.app.db.read() as conn:
        assert logged_marks(conn, key_id) is not None
    assert audit(stack).ok
    late = verify(stack, after.licence_id)
    assert (late.verdict, late.reason) == (vpb.VERDICT_CANNOT_CHECK, "ISSUER_KEY_COMPROMISED")

    with stack.app.db.transaction() as conn:  # the mark cleared behind the log
        conn.execute(
            update(department_keys)
            .where(department_keys.c.key_id == key_id)
            .values(compromised_at=None, valid_until=None)
        )
    stack.app.read.public_keys.forget()  # as a restarted process would read it
    again = verify(stack, after.licence_id)
    assert again.verdict == vpb.VERDICT_CANNOT_CHECK  # never VALID from the stolen key
    assert verify(stack, before.licence_id).verdict == vpb.VERDICT_CANNOT_CHECK  # fail closed
    problems = [(p.ref, p.what) for p in audit(stack).problems]
    assert (key_ref(key_id), "key marks (validity, compromise) edited") in problems
