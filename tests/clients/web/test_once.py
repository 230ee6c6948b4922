"""Acting once per submitted form (clients/web/once.py): claimed in the desk's database, so
a second submission gets the first outcome — also after a restart and on another process."""

from __future__ import annotations

import threading
import time

import pytest

from clients.web.db import open_database
from clients.web.once import KEEP_SECONDS, claim, form_key, read_form_key, run, run_message
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import DeadlineExceeded, PermissionDenied


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'web.db'}"


def test_a_key_acts_once_even_when_the_second_post_arrives_during_the_first(url) -> None:
    engine = open_database(url)
    calls: list[int] = []
    started = threading.Event()

    def act() -> str:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return f"receipt-{len(calls)}"

    results: list[tuple[str, bool]] = []
    first = threading.Thread(target=lambda: results.append(run(engine, "k", "wang", act)))
    first.start()
    started.wait(5)
    second = run(engine, "k", "wang", act)  # arrives while the first is still running
    first.join(5)
    assert calls == [1]
    assert second == ("receipt-1", True) and results == [("receipt-1", False)]


def test_the_outcome_survives_a_restart_and_is_shared_by_another_desk_process(url) -> None:
    run(open_database(url), "k", "wang", lambda: "first")
    elsewhere = open_database(url)  # a restarted desk, or a second process on the database
    assert run(elsewhere, "k", "wang", lambda: "again") == ("first", True)


def test_a_failed_act_releases_the_key_and_the_form_may_be_sent_again(url) -> None:
    engine = open_database(url)

    def down() -> str:
        raise ConnectionError("services down")

    with pytest.raises(ConnectionError):
        run(engine, "k", "wang", down)
    assert run(engine, "k", "wang", lambda: "ok") == ("ok", False)


def test_another_accounts_key_is_refused_and_a_stuck_first_post_is_not_waited_for_ever(
    url,
) -> None:
    engine = open_database(url)
    run(engine, "k", "wang", lambda: "mine")
    with pytest.raises(PermissionDenied):
        run(engine, "k", "li", lambda: "theirs")
    assert claim(engine, "stuck", "wang", time.time())  # claimed, its act never finished
    with pytest.raises(DeadlineExceeded):
        run(engine, "stuck", "wang", lambda: "x", wait=0.2)


def test_kept_keys_expire_after_a_day(url) -> None:
    engine = open_database(url)
    run(engine, "k", "wang", lambda: "first", clock=lambda: 1000.0)
    later = 1000.0 + KEEP_SECONDS + 1
    assert run(engine, "k", "wang", lambda: "again", clock=lambda: later) == ("again", False)


def test_a_message_answer_is_replayed_whole(url) -> None:
    engine = open_database(url)
    answer = vpb.Verification(receipt_id="R-1", verdict=vpb.VERDICT_VALID)
    got, replayed = run_message(engine, "k", "wang", lambda: answer, vpb.Verification)
    assert (got, replayed) == (answer, False)
    again = run_message(engine, "k", "wang", lambda: vpb.Verification(), vpb.Verification)
    assert again == (answer, True)


def test_only_keys_the_desk_makes_are_accepted() -> None:
    first, second = form_key(), form_key()
    assert first != second and read_form_key(first) == first
    for bad in (None, "", "x" * 32, first.upper(), "0" * 31, "0" * 33, ["0" * 32], 12):
        assert read_form_key(bad) is None
