"""Acting once per submitted form (clients/web/once.py)."""

from __future__ import annotations

import threading
import time

import pytest

from clients.web.once import OnceStore, form_key, read_form_key


def test_a_key_acts_once_even_when_the_second_post_arrives_during_the_first() -> None:
    store: OnceStore[str] = OnceStore()
    calls: list[int] = []
    started = threading.Event()

    def act() -> str:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return f"receipt-{len(calls)}"

    results: list[tuple[str, bool]] = []
    first = threading.Thread(target=lambda: results.append(store.run("s", "k", act)))
    first.start()
    started.wait(5)
    second = store.run("s", "k", act)  # arrives while the first is still running
    first.join(5)
    assert calls == [1]
    assert second == ("receipt-1", True) and results == [("receipt-1", False)]
    assert store.run("other-session", "k", act) == ("receipt-2", False)  # keys are per session


def test_a_failed_act_is_not_kept_and_the_form_may_be_sent_again() -> None:
    store: OnceStore[str] = OnceStore()

    def down() -> str:
        raise ConnectionError("services down")

    with pytest.raises(ConnectionError):
        store.run("s", "k", down)
    assert store.run("s", "k", lambda: "ok") == ("ok", False)


def test_kept_outcomes_expire() -> None:
    now = [0.0]
    store: OnceStore[str] = OnceStore(ttl=60, clock=lambda: now[0])
    store.run("s", "k", lambda: "first")
    now[0] = 61
    assert store.run("s", "k", lambda: "again") == ("again", False)


def test_only_keys_the_desk_makes_are_accepted() -> None:
    assert read_form_key(form_key()) is not None
    for bad in (None, "", "x" * 32, "0" * 31, "0" * 33, ["0" * 32]):
        assert read_form_key(bad) is None
