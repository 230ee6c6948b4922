"""benchmarks.threads: thread groups, /proc's counters read, and per-call figures between two
snapshots (the benchmark itself starts a server and load processes; not run here)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from benchmarks.threads import Sample, figures, group_of, per_call, snapshot, switches, ticks_of
from services.common.thread_names import name_this_thread


def test_numbered_threads_of_one_pool_are_one_group() -> None:
    assert group_of("rpc_0") == "rpc_*"
    assert group_of("rpc_10") == "rpc_*"
    assert group_of("receipts_1") == "receipts_*"
    assert group_of("worker-3") == "worker_*"


def test_named_threads_keep_their_name() -> None:
    assert group_of("event_engine") == "event_engine"
    assert group_of("log-sequencer") == "log-sequencer"
    assert group_of("python") == "python"
    assert group_of("42") == "42"  # nothing left but the number


def test_switches_are_read_from_a_status_text() -> None:
    status = (
        "Name:\tpython\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t120\n"
        "nonvoluntary_ctxt_switches:\t7\n"
    )
    assert switches(status) == (120, 7)
    assert switches("Name:\tpython\n") == (0, 0)


def test_ticks_are_user_plus_system_even_with_a_parenthesis_in_the_name() -> None:
    # pid (comm) state ppid ... utime is field 14 and stime field 15 of the line
    fields = ["S", "1"] + ["0"] * 9 + ["250", "40"] + ["0"] * 30
    assert ticks_of("123 (odd) name) " + " ".join(fields)) == 290


def sample(name: str, ticks: int, vol: int, invol: int = 0) -> Sample:
    return Sample(name, ticks, vol, invol)


def test_figures_per_call_between_two_snapshots() -> None:
    before = {1: sample("rpc_0", 100, 10), 2: sample("rpc_1", 50, 5), 3: sample("python", 0, 0)}
    after = {
        1: sample("rpc_0", 300, 30, 2),  # +200 ticks, +20 voluntary, +2 involuntary
        2: sample("rpc_1", 150, 25),  # +100, +20
        3: sample("python", 100, 10, 4),  # +100, +10, +4
        4: sample("log-sequencer", 100, 5),  # born meanwhile: from zero
    }
    rows = per_call(before, after, calls=100, process_ticks=600, hz=100)
    by = {r.group: r for r in rows}
    assert [r.group for r in rows] == ["rpc_*", "(ended)", "log-sequencer", "python"]
    assert by["rpc_*"].threads == 2
    assert by["rpc_*"].cpu_us == pytest.approx(300 / 100 / 100 * 1e6)  # 30 ms a call
    assert by["rpc_*"].voluntary == pytest.approx(0.4)
    assert by["rpc_*"].involuntary == pytest.approx(0.02)
    assert by["python"].involuntary == pytest.approx(0.04)
    # The process used 600 ticks; its live threads 500: 100 were threads that ended.
    assert by["(ended)"].cpu_us == pytest.approx(100 / 100 / 100 * 1e6)
    assert figures(rows)["cpu_us_per_call"] == pytest.approx(60_000)
    assert figures(rows)["voluntary_switches_per_call"] == pytest.approx(0.55)


def test_a_thread_id_used_again_counts_from_zero() -> None:
    before = {7: sample("stream-reader", 500, 50)}
    after = {7: sample("rpc_3", 20, 2)}
    (row,) = per_call(before, after, calls=10, process_ticks=20, hz=100)
    assert row.group == "rpc_*"
    assert row.cpu_us == pytest.approx(20 / 100 / 10 * 1e6)
    assert row.voluntary == pytest.approx(0.2)


def test_no_calls_no_figures() -> None:
    assert per_call({}, {1: sample("python", 5, 5)}, calls=0, process_ticks=5, hz=100) == []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc")
def test_a_snapshot_finds_a_named_thread_and_its_sleeps() -> None:
    ready, go, done, finish = (threading.Event() for _ in range(4))
    ids: list[int] = []

    def run() -> None:
        name_this_thread("bench-sleeper")
        ids.append(threading.get_native_id())
        ready.set()
        go.wait()
        for _ in range(5):
            time.sleep(0.005)  # each a voluntary switch
        done.set()
        finish.wait(5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    first = snapshot_of(ids[0])
    go.set()
    done.wait(5)
    second = snapshot_of(ids[0])
    finish.set()
    thread.join(5)
    assert first.name == second.name == "bench-sleeper"
    assert second.voluntary - first.voluntary >= 5


def snapshot_of(tid: int) -> Sample:
    return snapshot(os.getpid())[tid]
