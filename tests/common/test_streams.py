"""pipelined(): answers in order, the next request's work overlapping the previous wait."""

from __future__ import annotations

import queue

import pytest

from services.common.streams import pipelined


def test_answers_every_request_in_order_overlapping_when_the_next_is_there():
    events: list[str] = []

    def start(n: int) -> int:
        events.append(f"start {n}")
        return n

    def finish(n: int) -> int:
        events.append(f"finish {n}")
        return n * 10

    assert list(pipelined(iter(range(3)), start, finish)) == [0, 10, 20]
    assert events.index("start 1") < events.index("finish 0")  # requests were all there


def test_an_answer_is_not_held_back_for_a_request_that_has_not_come():
    answered: queue.Queue[int] = queue.Queue()

    def requests():
        for n in range(3):
            yield n
            answered.get(timeout=10)  # like a client that waits for each answer

    answers = []
    for answer in pipelined(requests(), lambda n: n, lambda n: n):
        answers.append(answer)
        answered.put(answer)
    assert answers == [0, 1, 2]  # (a held-back answer would leave the requests waiting)


def test_an_empty_stream_answers_nothing():
    assert list(pipelined(iter([]), lambda n: n, lambda n: n)) == []


def test_the_reader_stops_when_the_answers_stop():
    import threading

    def endless():
        n = 0
        while True:
            yield n
            n += 1

    def start(n: int) -> int:
        if n == 2:
            raise ValueError("bad request")
        return n

    before = threading.active_count()
    answers = pipelined(endless(), start, lambda n: n)
    with pytest.raises(ValueError):
        list(answers)
    for _ in range(50):  # the reader notices within its put timeout
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.05)
    assert threading.active_count() <= before
