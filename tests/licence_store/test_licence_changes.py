"""On SQLite the reader keeps current licence rows between verifications; every write to a
licence, its versions or its statements — by this process or any other writer of the file —
is noted by triggers in licence_changes, and the next verification reads that licence afresh."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from services.common.licence_ids import parse_licence_identifier
from services.licence_store import demo
from services.licence_store.persistence import changes
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import server_process
from testsupport.stack import Stack, settings_for, start_stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

from ..verifier.test_batch import COMPANY, COMPANY_NAME, batch, issue, item, outcomes

VALID = {(vpb.VERDICT_VALID, "ALL_CHECKS_PASSED")}


@pytest.fixture
def sqlite_stack(pki, tmp_path: Path, clock) -> Iterator[Stack]:
    s = start_stack(settings_for(f"sqlite:///{tmp_path / 'y.db'}", tmp_path, pki), pki, clock=clock)
    yield s
    s.stop()


def another_writer(tmp_path: Path) -> sqlite3.Connection:
    """A connection of its own to the database file, as another process would have."""
    return sqlite3.connect(tmp_path / "y.db", isolation_level=None, timeout=10)


def chunk(licence_id: str) -> list[vpb.VerifyLicenceRequest]:
    return [item(licence_id, client_ref=str(i)) for i in range(3)]


def test_a_revocation_is_seen_at_the_next_verification_though_the_row_was_kept(sqlite_stack):
    licence = issue(sqlite_stack, "C-1")
    rows = sqlite_stack.app.read.reader.current_rows
    assert rows is not None
    assert set(outcomes(batch(sqlite_stack, chunk(licence.licence_id)))) == VALID
    hits = rows.hits
    assert set(outcomes(batch(sqlite_stack, chunk(licence.licence_id)))) == VALID
    assert rows.hits > hits  # answered from memory
    sqlite_stack.store("market").RevokeLicence(
        pb.StatusChangeRequest(
            licence=pb.LicenceRef(licence_id=licence.licence_id), reason_code="FRAUD"
        )
    )
    after = outcomes(batch(sqlite_stack, chunk(licence.licence_id)))
    assert {verdict for verdict, _ in after} == {vpb.VERDICT_REVOKED}


def test_an_edit_by_another_writer_of_the_file_is_seen_at_once(sqlite_stack, tmp_path):
    licence = issue(sqlite_stack, "C-2")
    assert set(outcomes(batch(sqlite_stack, chunk(licence.licence_id)))) == VALID
    assert set(outcomes(batch(sqlite_stack, chunk(licence.licence_id)))) == VALID
    writer = another_writer(tmp_path)
    writer.execute("UPDATE licence_versions SET holder_name = '篡改后的名称'")
    (noted,) = writer.execute(f"SELECT serial FROM {changes.TABLE} ORDER BY seq DESC").fetchone()
    assert noted == parse_licence_identifier(licence.licence_id).serial  # the trigger fired
    edited = outcomes(batch(sqlite_stack, chunk(licence.licence_id)))
    assert set(edited) == {(vpb.VERDICT_CANNOT_CHECK, "CONTENT_ALTERED")}
    writer.close()


def test_without_the_triggers_every_row_is_read(pki, tmp_path, clock, caplog):
    url = f"sqlite:///{tmp_path / 'y.db'}"
    first = start_stack(settings_for(url, tmp_path, pki), pki, clock=clock)
    licence = issue(first, "C-3")
    first.stop()
    writer = another_writer(tmp_path)
    for name in changes.TRIGGERS[:1]:
        writer.execute(f"DROP TRIGGER {name}")
    writer.close()
    caplog.set_level(logging.WARNING)
    stack = start_stack(settings_for(url, tmp_path, pki), pki, clock=clock)
    try:
        for _ in range(2):
            assert set(outcomes(batch(stack, chunk(licence.licence_id)))) == VALID
        rows = stack.app.read.reader.current_rows
        assert rows is not None and rows.hits == 0
        assert "licence change log incomplete" in caplog.text
    finally:
        stack.stop()


def test_the_change_log_keeps_the_newest_and_a_reader_far_behind_forgets_all(
    sqlite_stack, tmp_path
):
    licence = issue(sqlite_stack, "C-4")
    assert set(outcomes(batch(sqlite_stack, chunk(licence.licence_id)))) == VALID
    writer = another_writer(tmp_path)
    writer.execute("BEGIN")
    for _ in range(changes.KEEP + 50):
        writer.execute("UPDATE licences SET status_reason_text = status_reason_text")
    writer.execute("UPDATE licence_versions SET holder_name = '篡改后的名称'")
    writer.execute("COMMIT")
    low, high, count = writer.execute(
        f"SELECT min(seq), max(seq), count(*) FROM {changes.TABLE}"
    ).fetchone()
    assert count == changes.KEEP and high - low == changes.KEEP - 1
    writer.close()
    rows = sqlite_stack.app.read.reader.current_rows
    assert rows is not None and rows.seq < low  # behind what is kept
    edited = outcomes(batch(sqlite_stack, chunk(licence.licence_id)))
    assert set(edited) == {(vpb.VERDICT_CANNOT_CHECK, "CONTENT_ALTERED")}
    assert rows.seq == high


def test_the_migration_leaves_every_trigger_in_place(sqlite_stack):
    with sqlite_stack.app.db.driver_reads() as connection:
        assert changes.watching(connection)
        assert changes.changes_from(connection, 0)  # never empty


def test_a_revocation_in_one_process_is_seen_by_a_verifier_process_that_kept_the_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    var = tmp_path / "var"  # one PKI for both
    with ExitStack() as processes:
        store = processes.enter_context(
            server_process(url, var_dir=var, YIHAO_SERVICES="licence_store")
        )
        verifier = processes.enter_context(
            server_process(url, var_dir=var, YIHAO_SERVICES="verifier")
        )
        licence = store.store("market").IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key="changes-two-processes",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number="C-5",
                holder=common.Holder(number=COMPANY, name=COMPANY_NAME),
                fields=BUSINESS_FIELDS,
            )
        )
        ref = pb.LicenceRef(licence_id=licence.licence_id)
        hall = vgrpc.VerifierStub(verifier.channel("hall"))
        for _ in range(3):  # the row read once, then kept
            assert hall.VerifyLicence(vpb.VerifyLicenceRequest(licence=ref)).verdict == (
                vpb.VERDICT_VALID
            )
        store.store("market").RevokeLicence(
            pb.StatusChangeRequest(licence=ref, reason_code="FRAUD")
        )
        answer = hall.VerifyLicence(vpb.VerifyLicenceRequest(licence=ref))
        assert answer.verdict == vpb.VERDICT_REVOKED
