"""Group commit: every submitted item is durable when submit returns; failures reach every
caller of the failed batch; concurrent callers share commits."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from services.common.database import Database
from services.common.errors import DeadlineExceeded, Unavailable
from services.common.group_commit import GroupCommitter

meta = MetaData()
rows = Table("gc_rows", meta, Column("n", Integer, primary_key=True))


def recording(commits: list, summary):
    """A write that inserts the items and records ``summary(items)`` of each commit."""

    def write(conn, items):
        commits.append(summary(items))
        conn.execute(insert(rows), [{"n": n} for n in items])

    return write


def failing_on_bad(conn, items):
    """A write that fails (as a disk error would) for a batch holding "bad"."""
    if "bad" in items:
        raise RuntimeError("disk on fire")
    conn.execute(insert(rows), [{"n": n} for n in items])


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gc.db'}")
    meta.create_all(database.engine)
    yield database
    database.dispose()


def test_concurrent_submits_are_all_durable_and_share_commits(db):
    commits: list = []
    write = recording(commits, len)

    committer = GroupCommitter(db, write)
    errors = []

    def worker(base: int) -> None:
        try:
            for i in range(50):
                committer.submit(base + i)
                with db.read() as conn:  # durable (committed) when submit returned
                    found = conn.execute(select(rows.c.n).where(rows.c.n == base + i)).scalar()
                    assert found == base + i
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rows)).scalar() == 400
    assert sum(commits) == 400
    assert len(commits) < 400  # some commits carried several callers' items


def test_a_failed_batch_fails_its_callers_and_the_next_one_proceeds(db):
    committer = GroupCommitter(db, failing_on_bad)
    with pytest.raises(Unavailable):
        committer.submit("bad")
    committer.submit(7)
    with db.read() as conn:
        assert conn.execute(select(rows.c.n)).scalars().all() == [7]


def test_a_leader_waits_for_announced_callers_to_join_its_commit(db):
    commits: list = []
    write = recording(commits, sorted)

    committer = GroupCommitter(db, write, gather=5.0)
    both_announced = threading.Barrier(2)

    def caller(n: int, work: float) -> None:
        with committer.coming():
            both_announced.wait()
            threading.Event().wait(work)  # the work before the submit
            committer.submit(n)

    threads = [threading.Thread(target=caller, args=(n, w)) for n, w in ((1, 0.0), (2, 0.2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert commits == [[1, 2]]  # the first caller's commit waited for the second's item
    committer.submit(3)  # nobody announced: no wait
    assert commits[-1] == [3]


def test_a_caller_out_of_time_leaves_the_queue_and_the_next_one_leads(db):
    release = threading.Event()
    leading = threading.Event()

    def write(conn, items):
        if 1 in items:
            leading.set()
            release.wait(10)
        conn.execute(insert(rows), [{"n": n} for n in items])

    committer = GroupCommitter(db, write)
    first = threading.Thread(target=committer.submit, args=(1,))
    first.start()
    assert leading.wait(10)  # 1's commit is under way and holds the lead
    with pytest.raises(DeadlineExceeded):
        committer.submit(2, timeout=0.1)  # queued behind it, and gives up
    third_done = threading.Event()
    third = threading.Thread(target=lambda: (committer.submit(3, timeout=10), third_done.set()))
    third.start()
    release.set()
    first.join(10)
    third.join(10)
    assert third_done.is_set()  # 3 led its own commit; 2 left the queue unwritten
    with db.read() as conn:
        assert conn.execute(select(rows.c.n).order_by(rows.c.n)).scalars().all() == [1, 3]


def test_items_beyond_one_batch_are_committed_by_the_next_leader(db):
    commits: list = []
    write = recording(commits, len)

    committer = GroupCommitter(db, write, max_batch=2)
    threads = [threading.Thread(target=committer.submit, args=(n,)) for n in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert sum(commits) == 9 and max(commits) <= 2


def test_submit_many_writes_a_callers_items_together_and_durably(db):
    commits: list = []
    write = recording(commits, sorted)

    committer = GroupCommitter(db, write)
    committer.submit_many([4, 5, 6])
    with db.read() as conn:  # durable when it returned
        assert conn.execute(select(rows.c.n).order_by(rows.c.n)).scalars().all() == [4, 5, 6]
    assert commits == [[4, 5, 6]]
    committer.submit_many([])  # nothing to write: no commit
    assert len(commits) == 1


def test_submit_many_beyond_one_batch_and_beside_other_callers(db):
    commits: list = []
    write = recording(commits, len)

    committer = GroupCommitter(db, write, max_batch=4)
    threads = [
        threading.Thread(target=committer.submit_many, args=([k * 100 + i for i in range(10)],))
        for k in range(4)
    ] + [threading.Thread(target=committer.submit, args=(1000 + n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert sum(commits) == 45 and max(commits) <= 4
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(rows)).scalar() == 45


def test_submit_many_raises_when_its_batch_failed(db):
    committer = GroupCommitter(db, failing_on_bad)
    with pytest.raises(Unavailable):
        committer.submit_many([1, "bad", 2])
    committer.submit_many([3])
    with db.read() as conn:
        assert conn.execute(select(rows.c.n)).scalars().all() == [3]  # nothing half-written
