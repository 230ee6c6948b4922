"""The server's threads carry their names where the operating system shows them (top -H, ps -L,
/proc, perf), so an operator and ``benchmarks.threads`` can tell them apart."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common import audit_log, merkle
from services.common.audit_log import Entry
from services.common.database import Database
from services.common.sequencer import Sequencer
from services.common.thread_names import OS_NAME_BYTES, name_this_thread, os_name
from testsupport.stack import Stack
from yihao.v1 import common_pb2, common_pb2_grpc

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

linux = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="thread names are read from Linux's /proc"
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Threads do not depend on the database: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def os_names() -> Iterator[tuple[int, str]]:
    """(thread id, name) of this process's live threads, as the kernel has them."""
    for task in Path("/proc/self/task").iterdir():
        try:
            yield int(task.name), (task / "comm").read_text().strip()
        except OSError:  # ended meanwhile
            continue


def os_name_of(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def test_a_short_name_is_kept_whole() -> None:
    assert os_name("log-sequencer") == "log-sequencer"


def test_a_long_name_is_cut_to_what_the_kernel_keeps() -> None:
    assert os_name("sqlite-checkpoint") == "sqlite-checkpoi"
    assert len(os_name("x" * 40).encode()) == OS_NAME_BYTES


def test_a_name_is_never_cut_inside_a_character() -> None:
    # "a" and six characters of three bytes: the 15th byte falls inside the fifth character.
    assert os_name("a日志排序线程") == "a日志排序"
    assert os_name("日志排序线程") == "日志排序线"  # exactly 15 bytes


@linux
def test_a_thread_names_itself_after_its_python_name() -> None:
    seen: list[str] = []

    def run() -> None:
        name_this_thread()
        seen.append(os_name_of(threading.get_native_id()))

    thread = threading.Thread(target=run, name="yihao-test-thread-with-a-long-name")
    thread.start()
    thread.join()
    assert seen == ["yihao-test-thre"]


@linux
def test_a_thread_can_be_given_another_name() -> None:
    seen: list[str] = []

    def run() -> None:
        name_this_thread("stream-reader")
        seen.append(os_name_of(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == ["stream-reader"]


@linux
def test_the_log_sequencer_thread_is_named(db: Database) -> None:
    sequencer = Sequencer(db, every=0.05)
    with db.transaction() as conn:
        audit_log.queue(conn, [Entry("receipt", "r", merkle.leaf_hash(b"r").hex())], AT)
    sequencer.queued()
    try:
        thread = sequencer._thread
        assert thread is not None and thread.native_id is not None
        deadline = time.monotonic() + 10
        while os_name_of(thread.native_id) != "log-sequencer" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert os_name_of(thread.native_id) == "log-sequencer"
    finally:
        sequencer.close()


@linux
def test_the_handler_threads_of_a_served_stack_are_named(stack: Stack) -> None:
    before = dict(os_names())
    common_pb2_grpc.DiagnosticsStub(stack.channel("hall")).Ping(
        common_pb2.PingRequest(payload="hi"), timeout=5
    )
    # The stack's handler pool starts its first thread for the first call; a new thread
    # would otherwise inherit the name of the one that started it.
    new = [name for tid, name in os_names() if tid not in before]
    assert any(re.fullmatch(r"rpc_\d+", name) for name in new), new
