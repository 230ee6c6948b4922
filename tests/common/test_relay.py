"""The wake-up call a relay's waiting callers sleep on."""

from __future__ import annotations

import threading
import time

from services.common.relay import Wakeup


def test_a_wait_returns_once_set_and_uses_the_set_up() -> None:
    wakeup = Wakeup()
    assert not wakeup.wait(0)  # not set
    wakeup.set()
    wakeup.set()  # several sets before a wait count as one
    assert wakeup.wait(0)
    assert not wakeup.wait(0.01)


def test_a_negative_timeout_is_no_wait() -> None:
    wakeup = Wakeup()
    assert not wakeup.wait(-5)
    wakeup.set()
    assert wakeup.wait(-5)


def test_a_set_from_another_thread_wakes_the_sleeper() -> None:
    wakeup = Wakeup()
    woke: list[float] = []

    def sleeper() -> None:
        began = time.monotonic()
        assert wakeup.wait(10)
        woke.append(time.monotonic() - began)

    thread = threading.Thread(target=sleeper)
    thread.start()
    time.sleep(0.05)
    assert not woke  # still asleep
    wakeup.set()
    thread.join(10)
    assert woke and woke[0] < 9


def test_racing_sets_never_raise() -> None:
    wakeup = Wakeup()
    errors: list[BaseException] = []

    def setter() -> None:
        try:
            for _ in range(2000):
                wakeup.set()
        except BaseException as exc:  # what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=setter) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors and wakeup.wait(0) and not wakeup.wait(0)
