"""A VerifyBatch chunk's answer encoded by hand (what the server sends) parses to the very
message the protobuf library builds from the same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.common.clock import FixedClock
from services.common.identity import Caller
from services.licence_store import demo
from services.verifier.batch import Chunk
from services.verifier.domain.verdict import STANDARD_CHECKS
from services.verifier.messages import (
    Wire,
    _length,
    _stamp,
    _stamp_by_protobuf,
    batch_item,
    encoded,
)
from services.verifier.results import EXISTENCE
from tests.verifier.test_batch import COMPANY, MISSING, PERSON, issue, issue_person, item
from testsupport.stack import Stack
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb


@pytest.mark.parametrize("n", [1, 127, 128, 300, 16_383, 16_384, 3_000_000])
def test_a_length_is_the_varint_protobuf_writes(n):
    message = common.Signature(key_id="x" * n)
    assert message.SerializeToString() == b"\x0a" + _length(n) + b"x" * n
    assert _length(0) == b"\x00"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 12, 6, 6, 45, 12, 345678, tzinfo=UTC),
        datetime(2026, 12, 6, 14, 45, 12, tzinfo=timezone(timedelta(hours=8))),  # no micros
        datetime(1970, 1, 1, tzinfo=UTC),  # seconds and nanos both 0: omitted
        datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2106, 2, 7, 6, 28, 16, tzinfo=UTC),  # past 2**32 seconds
        datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),  # negative: protobuf's own path
    ],
)
@pytest.mark.parametrize("checks", [STANDARD_CHECKS, EXISTENCE, (), ("状态",)])
def test_an_answers_instant_and_policy_are_the_bytes_protobuf_writes(at, checks):
    """A unary answer's instant and policy are encoded by hand (once a round): the very bytes
    the protobuf library serialises for the same message, whatever the instant."""
    assert _stamp(at, checks) == _stamp_by_protobuf(at, checks)
    stamp = vpb.Verification.FromString(_stamp(at, checks))
    assert stamp.checked_at.ToDatetime(tzinfo=UTC) == at
    assert tuple(stamp.policy.checks) == checks and stamp.policy.as_of == stamp.checked_at


def test_an_encoded_chunk_parses_to_the_message_filled_from_it(stack: Stack):
    business = issue(stack, "E-1")
    permit = issue_person(stack, "E-2")
    by_number = pb.TypeAndNumber(type_code=demo.BUSINESS_LICENCE.type_code, licence_number="E-1")
    items = [
        item(business.licence_id, presented_holder_number=COMPANY, client_ref="名" * 100),
        item(business.licence_id, presented_holder_name="张三"),  # a name MISMATCH, no ref
        item(permit.licence_id, presented_holder_number=PERSON, client_ref="p", **WHY),
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(type_and_number=by_number)),
        item(MISSING, client_ref="missing"),
        item("garbage", client_ref="malformed"),  # answered on its own (not the fast path)
    ]
    chunk = stack.app.verifier.verify_batch(
        Caller(demo.code_of("hall")), [batch_item(i) for i in items]
    )
    chunk.wait_durable()
    wire = Wire()
    filled = vpb.VerifyBatchResponse(receipt_id=chunk.receipt_id)
    wire.fill(filled.results, chunk)

    sent = wire.encode(chunk)

    assert vpb.VerifyBatchResponse.FromString(sent) == filled
    assert len(sent) == filled.ByteSize()  # no field written twice
    assert [r.client_ref for r in filled.results] == [i.client_ref for i in items]
    assert filled.results[1].holder_name_match == vpb.HOLDER_MATCH_MISMATCH
    assert encoded(sent) is sent and encoded(filled) == filled.SerializeToString()


def test_an_empty_chunk_is_an_empty_message():
    assert Wire().encode(Chunk("", datetime(2026, 1, 1, tzinfo=UTC), [])) == b""


def test_a_verify_licence_answer_encoded_parses_to_the_message_built_from_it(
    stack: Stack, clock: FixedClock
):
    business = issue(stack, "V-1")
    permit = issue_person(stack, "V-2")
    caller = Caller(demo.code_of("hall"))
    wire = Wire()
    asked = [
        item(business.licence_id, presented_holder_number=COMPANY, client_ref="名" * 100),
        item(business.licence_id, presented_holder_name="张三"),  # no client_ref
        item(permit.licence_id, presented_holder_number=PERSON, client_ref="p", **WHY),
        item(MISSING, client_ref="missing"),
    ]
    stamps = set()
    for request in asked:
        chunk = stack.app.verifier.verify(caller, batch_item(request))
        built = vpb.VerifyBatchResponse()
        wire.fill(built.results, chunk)
        (expected,) = built.results

        sent = wire.verification(chunk)

        assert isinstance(sent, bytes)
        assert vpb.Verification.FromString(sent) == expected
        assert len(sent) == expected.ByteSize()  # no field written twice
        assert expected.receipt_id == chunk.receipt_id and expected.client_ref == request.client_ref
        assert expected.checked_at.ToDatetime(tzinfo=UTC) == chunk.checked_at
        stamps.add(chunk.checked_at)
        clock.advance(timedelta(seconds=1))
    assert len(stamps) == len(asked)  # each call's own instant, not the first one's


def test_a_verify_licence_answer_off_the_fast_path_is_its_message(stack: Stack):
    caller = Caller(demo.code_of("hall"))
    request = item(MISSING, client_ref="x")
    request.as_of.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))  # as of: the full path
    chunk = stack.app.verifier.verify(caller, batch_item(request))
    sent = Wire().verification(chunk)
    assert isinstance(sent, vpb.Verification)
    assert sent.receipt_id == chunk.receipt_id and sent.verdict == vpb.VERDICT_NOT_FOUND
