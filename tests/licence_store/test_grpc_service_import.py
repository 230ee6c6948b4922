"""The licence store through a real gRPC server with mutual TLS, on SQLite and PostgreSQL:
bulk import (ImportLicences) — exact and repeatable results, bad records rejected alone,
answers streamed as they come, shared line numbers, the limit of 1000 records a message.
"""

from __future__ import annotations

import threading

import grpc
import pytest

from tests.licence_store.grpc_service_helpers import BUSINESS, BUSINESS_FIELDS, COMPANY, details
from testsupport.imports import import_records
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

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
