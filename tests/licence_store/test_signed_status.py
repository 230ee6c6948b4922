"""Signed status in the store: every lifecycle act writes its statement in the same
transaction, and verdicts come from the verified chain, never from a column.

Through the real gRPC stack on SQLite and PostgreSQL; the database is edited directly, as
someone with write access to it could (the running process keeps its memory). The tamper
suite (tests/tamper) does the same against a server in its own process, edit by edit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alembic import command
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import delete, select, text, update

from services.audit import verify as audit_verify
from services.common.migrate import alembic_config, upgrade
from services.common.signing import SigningKey
from services.licence_store import demo
from services.licence_store.attestation import StatusAttestor, signature_ok
from services.licence_store.domain.reading import LicenceRef
from services.licence_store.domain.statements import Act, StatusStatement
from services.licence_store.domain.status_chain import decide, verify_chain
from services.licence_store.persistence import statements as status_repo
from services.licence_store.persistence.tables import department_keys, licence_statements, licences
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"


def issue(stack: Stack, number: str) -> str:
    return (
        stack.store("market")
        .IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key=f"signed-status-{number}",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number=number,
                holder=common.Holder(number=COMPANY, name="示例"),
                fields=BUSINESS_FIELDS,
            )
        )
        .licence_id
    )


def verdict(stack: Stack, licence_id: str) -> tuple[int, str]:
    answer = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id))
    )
    return answer.verdict, answer.reason


def batch_verdict(stack: Stack, licence_id: str) -> tuple[int, str]:
    item = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id))
    chunk = stack.verifier("hall").VerifyBatch(iter([vpb.VerifyBatchRequest(items=[item])]))
    answer = next(iter(chunk)).results[0]
    return answer.verdict, answer.reason


def serial_of(licence_id: str) -> str:
    return licence_id.split(".")[-3]


def chain(stack: Stack, serial: str) -> list[StatusStatement | None]:
    with stack.app.db.read() as conn:
        return [StatusStatement.parse(b, s) for b, s in status_repo.chain_of(conn, serial)]


def edit(stack: Stack, *statements: object) -> None:
    with stack.app.db.transaction() as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


def test_every_act_writes_its_statement_and_the_chain_verifies(stack: Stack, clock) -> None:
    store = stack.store("market")
    licence_id = issue(stack, "S-1")
    ref = pb.LicenceRef(licence_id=licence_id)
    steps = [
        lambda: store.ChangeLicence(pb.ChangeLicenceRequest(licence=ref, fields={"address": "新"})),
        lambda: store.SuspendLicence(pb.StatusChangeRequest(licence=ref, reason_code="VIOLATION")),
        lambda: store.ReinstateLicence(
            pb.StatusChangeRequest(licence=ref, reason_code="RECTIFIED")
        ),
        lambda: store.CancelLicence(
            pb.StatusChangeRequest(licence=ref, reason_code="HOLDER_REQUEST")
        ),
    ]
    for step in steps:
        clock.advance(timedelta(seconds=1))
        step()
    serial = serial_of(licence_id)
    statements = chain(stack, serial)
    assert [s.act for s in statements if s] == [
        Act.ISSUED,
        Act.CHANGED,
        Act.SUSPENDED,
        Act.REINSTATED,
        Act.CANCELLED,
    ]
    reader = stack.app.read.reader
    check = verify_chain(serial, statements, reader.trusted_keys, signature_ok)
    stored = reader.find(LicenceRef(licence_id=licence_id))
    assert check.ok and stored is not None and stored.status_refusal == ""
    assert check.head is not None and check.head.state.status.value == "cancelled"
    assert decide(check, None).state == check.head.state
    assert verdict(stack, licence_id)[1] == "STATUS_CANCELLED"


def test_bulk_import_writes_each_licences_first_statement(stack: Stack) -> None:
    records = [
        pb.ImportRecord(
            line=i,
            licence=pb.IssueLicenceRequest(
                idempotency_key=f"signed-import-{i}",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number=f"IMP-{i}",
                holder=common.Holder(number=COMPANY, name="示例"),
                fields=BUSINESS_FIELDS,
            ),
        )
        for i in range(3)
    ]
    replies = stack.store("market").ImportLicences(
        iter([pb.ImportLicencesRequest(records=records)])
    )
    ids = [r.licence_id for reply in replies for r in reply.results]
    assert len(ids) == 3
    for licence_id in ids:
        statements = chain(stack, serial_of(licence_id))
        assert [s.act for s in statements if s] == [Act.ISSUED]
        assert verdict(stack, licence_id)[1] == "ALL_CHECKS_PASSED"


def test_a_revoked_licence_set_back_to_active_is_cannot_check(stack: Stack) -> None:
    licence_id = issue(stack, "S-2")
    stack.store("market").RevokeLicence(
        pb.StatusChangeRequest(licence=pb.LicenceRef(licence_id=licence_id), reason_code="FRAUD")
    )
    serial = serial_of(licence_id)
    edit(stack, update(licences).where(licences.c.serial == serial).values(status="active"))
    for ask in (verdict, batch_verdict):
        assert ask(stack, licence_id) == (vpb.VERDICT_CANNOT_CHECK, "STATUS_ROW_MISMATCH")


def test_statements_deleted_with_the_rows_set_back_are_a_rollback(stack: Stack) -> None:
    licence_id = issue(stack, "S-3")
    serial = serial_of(licence_id)
    assert verdict(stack, licence_id)[1] == "ALL_CHECKS_PASSED"
    stack.store("market").SuspendLicence(
        pb.StatusChangeRequest(
            licence=pb.LicenceRef(licence_id=licence_id), reason_code="VIOLATION"
        )
    )
    assert batch_verdict(stack, licence_id)[1] == "STATUS_SUSPENDED"
    edit(
        stack,
        delete(licence_statements).where(
            (licence_statements.c.serial == serial) & (licence_statements.c.sequence == 2)
        ),
        update(licences).where(licences.c.serial == serial).values(status="active"),
    )
    # this process verified the second statement: a chain of one is a rollback
    for ask in (verdict, batch_verdict):
        assert ask(stack, licence_id) == (vpb.VERDICT_CANNOT_CHECK, "STATUS_ROLLED_BACK")
    # the act's log entry outlives it (a process that never saw it would answer VALID)
    edit(
        stack,
        text("DELETE FROM licence_events WHERE serial = :s AND kind = 'suspended'").bindparams(
            s=serial
        ),
    )
    with stack.app.db.read() as conn:
        outcome = audit_verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)
    assert outcome.problems


def test_an_edited_statement_is_cannot_check(stack: Stack) -> None:
    licence_id = issue(stack, "S-4")
    serial = serial_of(licence_id)
    stack.store("market").RevokeLicence(
        pb.StatusChangeRequest(licence=pb.LicenceRef(licence_id=licence_id), reason_code="FRAUD")
    )
    with stack.app.db.read() as conn:
        body = conn.execute(
            select(licence_statements.c.body).where(
                (licence_statements.c.serial == serial) & (licence_statements.c.sequence == 2)
            )
        ).scalar_one()
    forged = bytes(body).replace(b'"status":"revoked"', b'"status":"active"')
    edit(
        stack,
        update(licence_statements)
        .where((licence_statements.c.serial == serial) & (licence_statements.c.sequence == 2))
        .values(body=forged),
        update(licences).where(licences.c.serial == serial).values(status="active"),
    )
    assert verdict(stack, licence_id) == (vpb.VERDICT_CANNOT_CHECK, "STATUS_SIGNATURE_INVALID")


def test_a_replaced_public_key_vouches_for_nothing(stack: Stack) -> None:
    licence_id = issue(stack, "S-5")
    key_id = chain(stack, serial_of(licence_id))[0].key_id  # type: ignore[union-attr]
    stolen = SigningKey.generate(key_id)
    edit(
        stack,
        update(department_keys)
        .where(department_keys.c.key_id == key_id)
        .values(public_key=stolen.public().public_key),
    )
    fresh = stack.app.read.reader.trusted_keys
    fresh._pinned.clear()  # a process that never saw the key: the sealed half decides
    assert fresh(key_id) is None
    assert verdict(stack, licence_id)[0] == vpb.VERDICT_CANNOT_CHECK


def test_as_of_comes_from_the_statements(stack: Stack, clock) -> None:
    licence_id = issue(stack, "S-6")
    issued_at = clock.now()
    clock.advance(timedelta(hours=1))
    stack.store("market").SuspendLicence(
        pb.StatusChangeRequest(
            licence=pb.LicenceRef(licence_id=licence_id), reason_code="VIOLATION"
        )
    )
    serial = serial_of(licence_id)
    edit(stack, text("DELETE FROM licence_events WHERE serial = :s").bindparams(s=serial))
    ask = stack.verifier("hall").VerifyLicence
    then = ask(
        vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence_id),
            as_of=_timestamp(issued_at + timedelta(minutes=1)),
        )
    )
    assert then.reason == "ALL_CHECKS_PASSED"  # from the statements: the events are gone
    later = ask(
        vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence_id),
            as_of=_timestamp(issued_at + timedelta(hours=2)),
        )
    )
    assert later.reason == "STATUS_SUSPENDED"


def _timestamp(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def test_the_migration_builds_chains_from_the_events(stack: Stack, clock) -> None:
    store = stack.store("market")
    first, second = issue(stack, "M-1"), issue(stack, "M-2")
    ref = pb.LicenceRef(licence_id=first)
    clock.advance(timedelta(seconds=1))
    store.ChangeLicence(pb.ChangeLicenceRequest(licence=ref, fields={"address": "新"}))
    clock.advance(timedelta(seconds=1))
    store.RevokeLicence(pb.StatusChangeRequest(licence=ref, reason_code="FRAUD"))
    app = stack.app
    cfg = alembic_config(app.db.url)
    with app.db.engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0012")  # a store from before signed status
    upgrade(app.db, vault=app.vault)
    # Re-signed chains replace ones this process verified (a migration runs before the
    # server starts): a process that remembered the old heads would call them forks.
    app.read.reader.attestor = StatusAttestor(app.read.reader.trusted_keys)
    one, two = chain(stack, serial_of(first)), chain(stack, serial_of(second))
    assert [s.act for s in one if s] == [Act.ISSUED, Act.CHANGED, Act.REVOKED]
    assert all(s is not None and s.attested_at is not None for s in one + two)
    keys = app.read.reader.trusted_keys
    assert verify_chain(serial_of(first), one, keys, signature_ok).ok
    assert verify_chain(serial_of(second), two, keys, signature_ok).ok
    assert verdict(stack, first)[1] == "STATUS_REVOKED"
    assert verdict(stack, second)[1] == "ALL_CHECKS_PASSED"


def test_a_batch_read_reads_the_chains_it_must_check_in_one_statement(
    stack: Stack, monkeypatch
) -> None:
    from services.common.licence_ids import parse_licence_identifier
    from services.licence_store.persistence.rows import DriverReads

    licence_ids = [issue(stack, f"CH-{i}") for i in range(3)]
    revoked = licence_ids[0]
    stack.store("market").RevokeLicence(
        pb.StatusChangeRequest(licence=pb.LicenceRef(licence_id=revoked), reason_code="FRAUD")
    )
    serials = [parse_licence_identifier(i).serial for i in licence_ids]
    with stack.app.db.read() as conn:
        expected = status_repo.chains_of(conn, [*serials, "NO-SUCH-SERIAL"])
    with stack.app.db.driver_reads() as connection:
        read = DriverReads(connection, stack.app.db.engine.dialect.name)
        assert read.chains([*serials, "NO-SUCH-SERIAL"]) == expected
    assert len(expected[serials[0]]) == 2 and expected["NO-SUCH-SERIAL"] == []

    reader = stack.app.read.reader
    one_at_a_time: list[str] = []
    monkeypatch.setattr(status_repo, "chain_of", lambda conn, s: one_at_a_time.append(s))
    # As in a process that has not verified these statements yet (just started, say): each
    # licence's chain must be read and checked, all of them in the batch read's one statement
    # (DriverReads.chains), none in a read of its own (chain_of).
    attestor = StatusAttestor(reader.attestor._key_of)
    monkeypatch.setattr(reader, "attestor", attestor)
    heads = {s: (expected[s][-1][0], expected[s][-1][1]) for s in serials}
    assert all(attestor.needs_chain(s, heads[s]) for s in serials)
    if reader.current_rows is not None:
        reader.current_rows._rows.clear()
    current = reader.read_current(serials).licences
    assert one_at_a_time == []
    assert not any(attestor.needs_chain(s, heads[s]) for s in serials)  # checked, known now
    assert current[serials[0]].status.value == "revoked"
    assert all(current[s].status_refusal == "" for s in serials)
    assert not attestor.needs_chain(serials[0], None)  # no statement: nothing to read
