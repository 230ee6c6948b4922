"""The audit monitor's checks against a log it is shown (no server): rewritten logs, a changed
log key, a bad signature, an entry moved — each an inconsistency naming what is wrong. (The
spot checks of the newest entries and chains need a real log: test_audit_monitor_spot_checks.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.audit_monitor import Inconsistency, Loop, Monitor
from services.common import merkle
from services.common.audit_log import head_bytes
from services.common.signing import SigningKey
from yihao_shared.errors import NotFound

START = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


class FakeLog:
    """A log of leaf hashes that signs heads and answers proofs as the verifier does."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.pem = key.public().to_pem()
        self.leaves: list[bytes] = []
        self.refs: dict[str, int] = {}
        self.signed = 0

    def append(self, *names: str) -> None:
        for name in names:
            self.refs[name] = len(self.leaves)
            self.leaves.append(merkle.leaf_hash(name.encode()))

    def get_tree_head(self, *, fresh: bool = False) -> Any:
        self.signed += 1
        size = len(self.leaves)
        root = merkle.root(self.leaves)
        at = START + timedelta(seconds=self.signed)
        stamp = Timestamp()
        stamp.FromDatetime(at)
        signature = self.key.sign(head_bytes(size, root, at))
        return SimpleNamespace(
            tree_size=size, root_hash=root, at=stamp, key_id=self.key.key_id, signature=signature
        )

    def get_consistency_proof(self, *, first_size: int, second_size: int) -> Any:
        proof = merkle.consistency_proof(self.leaves[:second_size], first_size)
        return SimpleNamespace(path=proof)

    def get_inclusion_proof(self, *, ref: str, tree_size: int = 0) -> Any:
        if ref not in self.refs:
            raise NotFound(f"no log entry {ref}")
        index = self.refs[ref]
        return SimpleNamespace(
            leaf_index=index,
            leaf_hash=self.leaves[index],
            path=merkle.inclusion_proof(self.leaves[:tree_size], index),
        )

    def get_issuer_keys(self, **_: Any) -> Any:
        info = SimpleNamespace(key_id=self.key.key_id, public_key_pem=self.pem)
        return SimpleNamespace(receipt_keys=[info])


@pytest.fixture
def log() -> FakeLog:
    fake = FakeLog(SigningKey.generate("log-1"))
    fake.append("a", "b", "c")
    return fake


def test_an_honest_log_is_kept_round_after_round(log, tmp_path):
    monitor = Monitor(log, tmp_path, refs=["b"], recent=0)
    for more in ("d", "e", "f"):
        log.append(more)
        found = monitor.check()
        assert found.new_head_kept and found.refs_checked == 1
    assert [h.tree_size for h in monitor.kept_heads()] == [4, 5, 6]
    assert not monitor.check().new_head_kept  # unchanged: nothing new kept


def test_a_log_rewritten_to_a_larger_size_names_the_first_bad_point(log, tmp_path):
    monitor = Monitor(log, tmp_path, recent=0)
    monitor.check()  # 3
    log.append("d", "e")
    monitor.check()  # 5
    log.leaves[3] = merkle.leaf_hash(b"forged")  # entry #3 replaced, then the log grows
    log.append("f", "g", "h")
    with pytest.raises(Inconsistency) as caught:
        monitor.check()
    text = str(caught.value)
    assert "rewritten" in text and "kept head of 5 entries" in text
    assert "first bad point: kept head of 5 entries" in text
    assert "consistent up to 3 entries" in text


def test_a_shrunk_log_is_a_rollback(log, tmp_path):
    monitor = Monitor(log, tmp_path, recent=0)
    log.append("d")
    monitor.check()
    del log.leaves[3:]
    with pytest.raises(Inconsistency, match=r"shrank.*head of 3 entries.*kept head of 4"):
        monitor.check()


def test_a_different_key_under_a_pinned_id_is_refused(log, tmp_path):
    monitor = Monitor(log, tmp_path, recent=0)
    monitor.check()
    other = SigningKey.generate("log-1")
    log.key = other
    log.pem = other.public().to_pem()
    log.append("d")
    with pytest.raises(Inconsistency, match="differs from the one pinned"):
        monitor.check()


def test_a_head_whose_signature_does_not_verify_is_refused(log, tmp_path):
    monitor = Monitor(log, tmp_path, recent=0)
    signed = log.get_tree_head

    def forged(**kwargs: Any) -> Any:
        head = signed(**kwargs)
        head.tree_size += 1
        return head

    log.get_tree_head = forged  # type: ignore[method-assign]
    with pytest.raises(Inconsistency, match="does not verify"):
        monitor.check()


def test_a_spot_checked_entry_that_moves_is_reported(log, tmp_path):
    monitor = Monitor(log, tmp_path, refs=["c"], recent=0)
    monitor.check()
    log.refs["c"] = 0  # the server now shows another leaf for the entry
    log.append("d")
    with pytest.raises(Inconsistency, match="entry c was leaf 2 and is now leaf 0"):
        monitor.check()


def test_a_spot_checked_entry_that_vanishes_is_reported(log, tmp_path):
    monitor = Monitor(log, tmp_path, refs=["c"], recent=0)
    monitor.check()
    del log.refs["c"]
    log.append("d")
    with pytest.raises(Inconsistency, match="entry c was leaf 2 and is no longer in the log"):
        monitor.check()


def test_the_loop_counts_and_stops_at_an_inconsistency(log, tmp_path):
    loop = Loop(Monitor(log, tmp_path, recent=0))
    assert loop.run(None) == 0
    del log.leaves[2:]
    assert loop.run(0.01) == 1
    assert (
        loop.registry.get_sample_value(
            "yihao_audit_monitor_failures_total", {"kind": "inconsistent"}
        )
        == 1
    )


def test_keep_reporting_counts_every_round_until_stopped(log, tmp_path):
    loop = Loop(Monitor(log, tmp_path, recent=0))
    loop.run(None)
    del log.leaves[2:]
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(loop.run(0.05, keep_reporting=True)))
    worker.start()
    deadline = time.monotonic() + 10
    while (
        loop.registry.get_sample_value(
            "yihao_audit_monitor_failures_total", {"kind": "inconsistent"}
        )
        or 0
    ) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    loop.stop()
    worker.join(timeout=10)
    assert done == [1]
    assert [h.tree_size for h in loop.monitor.kept_heads()] == [3]  # nothing kept after it
