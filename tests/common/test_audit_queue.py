"""The log's queue: entries written in their record's transaction, appended to the tree later,
in order, by whoever sequences first (the background sequencer, a head, a proof, a direct
append). Both backends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.common import audit_log, log_tree, merkle
from services.common.audit_log import Entry, audit_leaves
from services.common.database import Database
from services.common.metrics import NoMetrics
from services.common.sequencer import Sequencer
from services.common.signing import SigningKey

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def entry(name: str) -> Entry:
    return Entry("receipt", name, merkle.leaf_hash(name.encode()).hex())


def tree(db: Database) -> list[tuple[int, str, datetime]]:
    with db.read() as conn:
        return [(leaf.index, leaf.ref, leaf.at) for leaf in audit_log.leaves(conn)]


def queued_refs(db: Database) -> list[str]:
    with db.read() as conn:
        return [leaf.ref for leaf in audit_log.queued(conn)]


def test_queued_entries_are_appended_in_order_after_the_tree(db: Database) -> None:
    with db.transaction() as conn:
        audit_log.append(conn, [entry("a")], AT)
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("b"), entry("c")], AT + timedelta(seconds=1))
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("d")], AT + timedelta(seconds=2))
    assert tree(db) == [(0, "a", AT)]
    assert queued_refs(db) == ["b", "c", "d"]
    with db.transaction() as conn:
        assert audit_log.sequence(conn) == 3
        assert audit_log.sequence(conn) == 0  # the queue is empty now
    assert tree(db) == [
        (0, "a", AT),
        (1, "b", AT + timedelta(seconds=1)),
        (2, "c", AT + timedelta(seconds=1)),
        (3, "d", AT + timedelta(seconds=2)),
    ]
    assert queued_refs(db) == []
    with db.read() as conn:  # the stored subtrees are the tree's: its root from them
        hashes = [bytes.fromhex(h) for (h,) in conn.execute(select(audit_leaves.c.leaf_hash))]
        assert log_tree.root_at(conn, 4) == merkle.fold(
            [merkle.node_hash(*hashes[:2]), merkle.node_hash(*hashes[2:])]
        )


def test_a_direct_append_takes_the_queue_first(db: Database) -> None:
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("queued")], AT)
    with db.transaction() as conn:
        audit_log.append(conn, [entry("direct")], AT + timedelta(seconds=1))
    assert [ref for _, ref, _ in tree(db)] == ["queued", "direct"]
    assert queued_refs(db) == []


def test_a_queue_written_in_a_transaction_that_fails_is_not_written(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        audit_log.queue(conn, [entry("rolled-back")], AT)
        raise RuntimeError("the record's transaction fails")
    assert queued_refs(db) == []


def test_queued_entries_are_seen_as_leaves_outside_the_tree(db: Database) -> None:
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("x")], AT)
    with db.read() as conn:
        (leaf,) = audit_log.queued(conn)
        assert audit_log.is_queued(conn, "x") and not audit_log.is_queued(conn, "y")
    assert (leaf.index, leaf.kind, leaf.ref, leaf.at) == (-1, "receipt", "x", AT)
    assert leaf.leaf_hash == merkle.leaf_hash(audit_log.leaf_data(entry("x")))


def test_a_signed_head_covers_what_was_queued(db: Database) -> None:
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("p"), entry("q")], AT)
    with db.transaction() as conn:
        head = audit_log.sign_head(conn, SigningKey.generate("log-test"), AT)
    assert head.tree_size == 2
    assert queued_refs(db) == []


def test_the_sequencer_appends_in_the_background_and_flushes_on_close(db: Database) -> None:
    sequencer = Sequencer(db, every=0.05)
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("bg")], AT)
    sequencer.queued()
    deadline = time.monotonic() + 10
    while queued_refs(db) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [ref for _, ref, _ in tree(db)] == ["bg"]
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("last")], AT)
    sequencer.queued()
    sequencer.close()  # whatever its thread had not appended yet
    assert [ref for _, ref, _ in tree(db)] == ["bg", "last"]
    with db.transaction() as conn:  # a closed sequencer starts no thread: left queued
        audit_log.queue(conn, [entry("after")], AT)
    sequencer.queued()
    time.sleep(0.2)
    assert queued_refs(db) == ["after"]


def test_enough_entries_waiting_start_a_pass_at_once(db: Database) -> None:
    sequencer = Sequencer(db, every=3600, batch=2)  # the interval alone would never come
    try:
        sequencer.queued()  # starts the thread; one entry waits for the interval
        with db.transaction() as conn:
            audit_log.queue(conn, [entry("one"), entry("two")], AT)
        sequencer.queued(2)
        deadline = time.monotonic() + 10
        while queued_refs(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [ref for _, ref, _ in tree(db)] == ["one", "two"]
    finally:
        sequencer.close()


def test_the_queue_state_counts_what_waits_and_since_when(db: Database) -> None:
    with db.read() as conn:
        assert audit_log.queue_state(conn) == (0, None)
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("early")], AT)
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("late1"), entry("late2")], AT + timedelta(minutes=5))
    with db.read() as conn:
        assert audit_log.queue_state(conn) == (3, AT)
    with db.transaction() as conn:
        audit_log.sequence(conn)
    with db.read() as conn:
        assert audit_log.queue_state(conn) == (0, None)


class Passes(NoMetrics):
    """The sequencer's passes as metrics would see them."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []

    def log_sequenced(self, entries: int, seconds: float, ok: bool) -> None:
        assert seconds >= 0
        self.seen.append((entries, ok))


def test_each_pass_of_the_sequencer_is_measured(db: Database) -> None:
    passes = Passes()
    sequencer = Sequencer(db, every=3600, metrics=passes)
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("m1"), entry("m2")], AT)
    sequencer.queued(2)
    sequencer.close()  # the flush is a pass
    assert passes.seen == [(2, True)]


def test_a_failed_pass_is_counted_and_its_entries_stay_queued(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = Passes()
    sequencer = Sequencer(db, every=3600, metrics=passes)
    with db.transaction() as conn:
        audit_log.queue(conn, [entry("kept")], AT)

    def broken(conn: object) -> int:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(audit_log, "sequence", broken)
    sequencer.queued()
    sequencer.close()
    assert passes.seen == [(0, False)]
    assert queued_refs(db) == ["kept"]
