"""The resumable import re-sends exactly the unanswered records after a transient failure."""

from __future__ import annotations

import pytest

from clients.resumable import import_resumable
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
        for record in feed:
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
