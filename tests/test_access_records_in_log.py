"""Access records ("who used my data") are in the tamper-evident log: deleting, editing or
slipping in a record is named by `yihao audit verify`. Both backends."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, text, update

from services.audit import check_access_records, verify
from services.common import audit_log
from services.common.access_log import (
    KIND,
    LEGACY_BATCH,
    access_records,
    holder_tag,
    records_of,
)
from services.common.audit_log import audit_leaves
from services.common.database import Database
from services.common.migrate import upgrade
from services.licence_store import demo
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"


def uses(stack: Stack, clock) -> str:
    """A licence verified twice, by number and by holder, and an automatic assistance answer:
    each leaves access records."""
    licence_id = (
        stack.store("market")
        .IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key="access-1",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number="AR-1",
                holder=common.Holder(number=COMPANY, name="示例"),
                fields=BUSINESS_FIELDS,
            )
        )
        .licence_id
    )
    hall = stack.verifier("hall")
    for _ in range(2):
        clock.advance(timedelta(seconds=1))
        hall.VerifyLicence(vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id)))
    hall.VerifyByHolder(vpb.VerifyByHolderRequest(holder_number=COMPANY))
    ask = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id))
    batch = [vpb.VerifyBatchRequest(items=[ask, ask, ask])]
    assert len(list(hall.VerifyBatch(iter(batch), timeout=30))) == 1  # 3 records, 1 batch
    stack.assistance("housing").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key="access-assist-1",
            item_code="XZXZ-SC-001",
            holder_number=COMPANY,
            purpose="住房保障审核",
            case_number="ZJ-2026-0001",
        )
    )
    stack.app.verifier.transparency.sequence()  # the verifications' queued entries, in the tree
    return licence_id


def report(stack: Stack):
    with stack.app.db.read() as conn:
        return verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)


def tamper(stack: Stack, statement) -> None:
    with stack.app.db.transaction() as conn:
        conn.execute(statement)


def access_leaves(stack: Stack) -> list[audit_log.Leaf]:
    with stack.app.db.read() as conn:
        return [x for x in audit_log.leaves(conn) if x.kind == KIND]


def test_every_use_is_logged_and_verifies(stack: Stack, clock):
    uses(stack, clock)
    with stack.app.db.read() as conn:
        records = conn.execute(select(func.count()).select_from(access_records)).scalar()
        batches = conn.execute(select(func.count(func.distinct(access_records.c.batch)))).scalar()
    assert records == 7
    assert len(access_leaves(stack)) == batches == 5
    assert report(stack).ok


def test_a_deleted_access_record_is_named(stack: Stack, clock):
    uses(stack, clock)
    second = access_leaves(stack)[3]  # the batch verification's three records
    tamper(
        stack,
        delete(access_records).where(
            access_records.c.id
            == select(func.min(access_records.c.id))
            .where(access_records.c.batch == second.ref)
            .scalar_subquery()
        ),
    )
    outcome = report(stack)
    assert outcome.first is not None
    assert (outcome.first.index, outcome.first.kind, outcome.first.ref) == (
        second.index,
        KIND,
        second.ref,
    )
    assert outcome.first.what == "access records deleted or edited (2 left in the batch)"


def test_all_of_a_holders_records_deleted_are_named(stack: Stack, clock):
    uses(stack, clock)
    tamper(stack, delete(access_records))
    outcome = report(stack)
    named = [p for p in outcome.problems if p.kind == KIND]
    assert [p.index for p in named] == [x.index for x in access_leaves(stack)]
    assert {p.what for p in named} == {"access records deleted (the batch)"}


def test_an_edited_access_record_is_named(stack: Stack, clock):
    uses(stack, clock)
    first = access_leaves(stack)[0]
    tamper(
        stack,
        update(access_records)
        .where(access_records.c.batch == first.ref)
        .values(department_code="11350100MB0000000X"),
    )
    outcome = report(stack)
    assert outcome.first is not None and outcome.first.ref == first.ref


def test_a_record_hidden_from_its_holder_by_its_tag_is_named(stack: Stack, clock):
    uses(stack, clock)
    first = access_leaves(stack)[0]
    with stack.app.db.read() as conn:
        record = conn.execute(
            select(access_records.c.id, access_records.c.holder_key)
            .where(access_records.c.batch == first.ref)
            .order_by(access_records.c.id)
        ).first()
    assert record is not None
    with stack.app.db.read() as conn:
        assert [r.record_id for r in records_of(conn, record.holder_key, 0, 100)] != []
    tamper(
        stack,
        update(access_records)
        .where(access_records.c.id == record.id)
        .values(holder_tag=holder_tag(record.holder_key) ^ 1),
    )
    with stack.app.db.read() as conn:  # gone from the holder's page, the digest unchanged
        assert record.id not in [r.record_id for r in records_of(conn, record.holder_key, 0, 100)]
    outcome = report(stack)
    assert outcome.first is not None and outcome.first.ref == first.ref
    assert outcome.first.what == (
        f"access record {record.id} hidden from its holder (holder_tag edited)"
    )


def test_a_record_slipped_in_is_named(stack: Stack, clock):
    uses(stack, clock)
    tamper(
        stack,
        insert(access_records).values(
            holder_key="0" * 64,
            department_code="11350100MB0000000X",
            channel="verification",
            purpose="",
            case_number="",
            what="invented",
            at=datetime(2026, 1, 1, tzinfo=UTC),
            batch=None,
            holder_tag=holder_tag("0" * 64),
        ),
    )
    outcome = report(stack)
    assert [(p.kind, p.ref) for p in outcome.problems] == [(KIND, LEGACY_BATCH)]
    assert "not in the log" in outcome.problems[0].what


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server = request.getfixturevalue("postgres")
    return str(server.create_database(f"a{os.getpid()}_{tmp_path.name[-20:]}".lower()))


def test_records_made_before_are_covered_by_the_migration(empty_url: str):
    db = Database(empty_url)
    upgrade(db, "0009")
    at = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    with db.transaction() as conn:
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO access_records (holder_key, department_code, channel, purpose, "
                    "case_number, what, at) VALUES (:h, '11350100MB0000000X', 'verification', "
                    "'', '', :w, :at)"
                ),
                {"h": hashlib.sha256(bytes([i])).hexdigest(), "w": f"read {i}", "at": at},
            )
    upgrade(db)
    with db.read() as conn:
        leaves = audit_log.leaves(conn)
        assert [(x.kind, x.ref) for x in leaves] == [(KIND, LEGACY_BATCH)]
        assert list(check_access_records(conn, leaves)) == []
        # Migration 0025 gave each its tag: found by its holder key.
        first = hashlib.sha256(bytes([0])).hexdigest()
        assert [r.what for r in records_of(conn, first, 0, 10)] == ["read 0"]
    with db.transaction() as conn:
        conn.execute(delete(access_records).where(access_records.c.what == "read 1"))
    with db.read() as conn:
        [problem] = check_access_records(conn, audit_log.leaves(conn))
    assert (problem.index, problem.ref) == (0, LEGACY_BATCH)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(audit_leaves)).scalar() == 1
    db.dispose()
