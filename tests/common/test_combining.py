"""Flat combining: concurrent callers' items run together in rounds, each caller gets its own
result or its own error, a failed round fails only its callers, and the role of combiner
passes on to whoever is queued."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from services.common.combining import Combiner
from services.common.database import call_deadline
from services.common.errors import DeadlineExceeded, InvalidArgument


def _run_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()


def test_callers_arriving_during_a_round_share_the_next_one() -> None:
    rounds: list[list[int]] = []
    first_round_started = threading.Event()
    let_first_round_finish = threading.Event()

    def run(items: Sequence[int]) -> list[int | BaseException]:
        rounds.append(list(items))
        if len(rounds) == 1:
            first_round_started.set()
            assert let_first_round_finish.wait(10)
        return [i * 10 for i in items]

    combiner: Combiner[int, int] = Combiner(run)
    results: dict[int, int] = {}

    def call(n: int) -> None:
        results[n] = combiner.submit(n)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert first_round_started.wait(10)
    others = [threading.Thread(target=call, args=(n,)) for n in range(1, 6)]
    for t in others:
        t.start()
    while len(combiner._queue) < 5:  # all five queued behind the running round
        threading.Event().wait(0.005)
    let_first_round_finish.set()
    for t in [first, *others]:
        t.join(timeout=30)
    assert results == {n: n * 10 for n in range(6)}
    assert rounds[0] == [0]
    assert sorted(rounds[1]) == [1, 2, 3, 4, 5]  # one round for everyone who waited
    assert len(rounds) == 2


def test_an_items_own_error_reaches_that_caller_only() -> None:
    def run(items: Sequence[int]) -> list[int | BaseException]:
        return [InvalidArgument(f"bad {i}") if i % 2 else i for i in items]

    combiner: Combiner[int, int] = Combiner(run)
    outcomes: dict[int, object] = {}

    def call(n: int) -> None:
        try:
            outcomes[n] = combiner.submit(n)
        except InvalidArgument as exc:
            outcomes[n] = str(exc)

    _run_all([threading.Thread(target=call, args=(n,)) for n in range(8)])
    assert outcomes == {n: (f"bad {n}" if n % 2 else n) for n in range(8)}


def test_a_failed_round_fails_its_callers_and_the_next_round_proceeds() -> None:
    def run(items: Sequence[str]) -> list[str | BaseException]:
        if "boom" in items:
            raise RuntimeError("disk on fire")
        return [s.upper() for s in items]

    combiner: Combiner[str, str] = Combiner(run)
    with pytest.raises(RuntimeError, match="disk on fire"):
        combiner.submit("boom")
    assert combiner.submit("fine") == "FINE"


def test_a_round_runs_without_the_combiners_deadline() -> None:
    seen: list[float | None] = []

    def run(items: Sequence[int]) -> list[int | BaseException]:
        seen.append(call_deadline.get())
        return list(items)

    combiner: Combiner[int, int] = Combiner(run)
    token = call_deadline.set(12345.0)
    try:
        assert combiner.submit(1) == 1
        assert call_deadline.get() == 12345.0  # restored for the caller
    finally:
        call_deadline.reset(token)
    assert seen == [None]


def test_a_caller_out_of_time_leaves_and_the_others_are_still_answered() -> None:
    release = threading.Event()
    started = threading.Event()

    def run(items: Sequence[int]) -> list[int | BaseException]:
        if 0 in items:
            started.set()
            assert release.wait(10)
        return list(items)

    combiner: Combiner[int, int] = Combiner(run)
    blocker = threading.Thread(target=combiner.submit, args=(0,))
    blocker.start()
    assert started.wait(10)
    with pytest.raises(DeadlineExceeded):
        combiner.submit(1, timeout=0.05)  # queued behind the stuck round, gives up
    answered: list[int] = []
    later = threading.Thread(target=lambda: answered.append(combiner.submit(2)))
    later.start()
    release.set()
    blocker.join(timeout=30)
    later.join(timeout=30)
    assert answered == [2]  # the round after the stuck one still ran, without item 1
    assert not combiner._leading and not combiner._queue


def test_rounds_are_bounded_and_everyone_is_answered() -> None:
    sizes: list[int] = []

    def run(items: Sequence[int]) -> list[int | BaseException]:
        sizes.append(len(items))
        return [i + 1 for i in items]

    combiner: Combiner[int, int] = Combiner(run, max_round=3)
    results: list[int] = []
    lock = threading.Lock()

    def worker(base: int) -> None:
        for i in range(40):
            got = combiner.submit(base + i)
            with lock:
                results.append(got - 1)

    _run_all([threading.Thread(target=worker, args=(k * 100,)) for k in range(6)])
    assert sorted(results) == sorted(k * 100 + i for k in range(6) for i in range(40))
    assert max(sizes) <= 3
    assert sum(sizes) == 240


def test_each_round_is_measured() -> None:
    rounds: list[tuple[str, int, float]] = []

    class Recording:
        def combined_round(self, combiner: str, size: int, seconds: float) -> None:
            rounds.append((combiner, size, seconds))

    combiner: Combiner[int, int] = Combiner(
        lambda items: list(items),
        name="test",
        metrics=Recording(),  # type: ignore[arg-type]
    )
    assert combiner.submit(1) == 1
    assert combiner.submit(2) == 2
    assert [(name, size) for name, size, _ in rounds] == [("test", 1), ("test", 1)]
    assert all(seconds >= 0 for _, _, seconds in rounds)
