"""The resumable import re-sends exactly the unanswered records after a transient failure."""

from __future__ import annotations

import pytest

from clients.resumable import MESSAGE_BYTES, import_resumable, messages
from clients.retry import RetryPolicy
from services.common.errors import InvalidArgument, Unavailable
from yihao.v1 import licence_store_pb2 as pb


def _records(n):
    return [pb.ImportRecord(line=i) for i in range(1, n + 1)]


def test_unanswered_records_are_sent_again_and_answered_once():
    stored: set[int] = set()
    sent_per_stream: list[list[int]] = []
    calls = {"n": 0}

    def stream(feed):
        calls["n"] += 1
        lines = []
        for record in (r for message in feed for r in message.records):
            lines.append(record.line)
            duplicate = record.line in stored
            stored.add(record.line)
            if calls["n"] == 1 and record.line == 700:
                sent_per_stream.append(lines)
                raise Unavailable("database restarting")  # 700 stored, never answered
            outcome = pb.IMPORT_OUTCOME_DUPLICATE if duplicate else pb.IMPORT_OUTCOME_ACCEPTED
            yield pb.ImportResult(line=record.line, outcome=outcome)
        sent_per_stream.append(lines)

    policy = RetryPolicy(initial=0.0, maximum=0.0, jitter=0.0, deadline=10)
    results = list(
        import_resumable(stream, _records(1000), policy, window=50, sleep=lambda _s: None)
    )
    assert sorted(r.line for r in results) == list(range(1, 1001))
    assert [r.line for r in results if r.outcome == pb.IMPORT_OUTCOME_DUPLICATE] == [700]
    assert calls["n"] == 2
    assert sent_per_stream[1][0] == 700  # the unanswered record goes first on the new stream


def test_a_permanent_error_is_not_retried():
    def stream(feed):
        next(iter(feed))
        raise InvalidArgument("bad")
        yield  # pragma: no cover

    with pytest.raises(InvalidArgument):
        list(import_resumable(stream, _records(3), RetryPolicy(deadline=5), sleep=lambda _s: None))


def _answer_each_message(sizes):
    """A stream that answers each message's records as soon as it arrives."""

    def stream(feed):
        for message in feed:
            sizes.append(len(message.records))
            for record in message.records:
                yield pb.ImportResult(line=record.line, outcome=pb.IMPORT_OUTCOME_ACCEPTED)

    return stream


def test_records_go_many_to_a_message_and_never_more_than_the_window():
    sizes: list[int] = []
    policy = RetryPolicy(deadline=5)
    results = list(
        import_resumable(
            _answer_each_message(sizes), _records(1000), policy, window=250, per_message=100
        )
    )
    assert [r.line for r in results] == list(range(1, 1001))
    assert sizes == [100] * 10


def test_a_message_is_sent_short_rather_than_wait_for_a_full_window():
    # With 150 records in flight the window is full: the second message goes with 50.
    sizes: list[int] = []
    held: list[pb.ImportResult] = []

    def stream(feed):
        for message in feed:
            sizes.append(len(message.records))
            held.extend(
                pb.ImportResult(line=r.line, outcome=pb.IMPORT_OUTCOME_ACCEPTED)
                for r in message.records
            )
            if sum(sizes) >= 150:  # answer only once the window is full
                yield from held
                held.clear()
        yield from held

    results = list(
        import_resumable(
            stream, _records(300), RetryPolicy(deadline=5), window=150, per_message=100
        )
    )
    assert sorted(r.line for r in results) == list(range(1, 301))
    assert sizes[:2] == [100, 50]


def test_records_that_share_a_line_are_each_sent_again():
    records = [
        pb.ImportRecord(line=0, licence=pb.IssueLicenceRequest(licence_number=str(i)))
        for i in range(5)
    ]
    seen: list[str] = []
    calls = {"n": 0}

    def stream(feed):
        calls["n"] += 1
        for message in feed:
            for record in message.records:
                seen.append(record.licence.licence_number)
            if calls["n"] == 1:
                raise Unavailable("connection lost")  # nothing answered
            for record in message.records:
                yield pb.ImportResult(line=record.line, outcome=pb.IMPORT_OUTCOME_ACCEPTED)

    policy = RetryPolicy(initial=0.0, maximum=0.0, jitter=0.0, deadline=10)
    results = list(import_resumable(stream, records, policy, sleep=lambda _s: None))
    assert len(results) == 5
    assert sorted(seen[5:]) == ["0", "1", "2", "3", "4"]


def test_messages_stay_under_the_byte_limit():
    big = "x" * (MESSAGE_BYTES // 3)
    records = [
        pb.ImportRecord(line=i, licence=pb.IssueLicenceRequest(holder=None)) for i in range(1, 8)
    ]
    for record in records:
        record.licence.fields["note"] = big
    sizes = [len(m.records) for m in messages(records, per_message=1000)]
    assert sizes == [3, 3, 1]


def test_per_message_must_be_what_the_server_accepts():
    with pytest.raises(ValueError):
        list(messages(_records(3), per_message=0))
    with pytest.raises(ValueError):
        list(
            import_resumable(
                _answer_each_message([]), _records(3), RetryPolicy(deadline=5), per_message=1001
            )
        )
