"""Proofs over the tamper-evident log: time per inclusion / consistency proof as it grows.

Run: ``.venv/bin/python -m benchmarks.proofs [--sizes 10000,1000000,10000000]
[--proofs 1000] [--url DATABASE_URL] [--keep DIR]``

For each size, a store's log of that many leaves is built straight into its tables (the
fast path: leaf rows and the stored subtree hashes the append path would have written,
through one executemany per batch, not through the RPCs), then ``--proofs`` inclusion proofs
of random leaves and as many consistency proofs between random sizes are served from the
stored hashes (``services.common.log_tree``, a read transaction each, as the RPC does) and
each is checked with the RFC 9162 verifiers against the root. At the smallest size, when it
is at most 100,000 leaves, the old way (every leaf hash up to the head read and hashed) is
timed too, for comparison.

The store is SQLite under a temporary directory unless ``--url`` names an empty database
(one size then); ``--keep DIR`` keeps each SQLite store in ``DIR/log-<size>.db`` and reuses
it. Prints a line per size and ends with one JSON line: ``build_s_<size>``,
``inclusion_us_<size>``, ``consistency_us_<size>`` (median), ``inclusion_p99_us_<size>``,
``hashes_read_max_<size>`` (most stored hashes one proof read) and, at the smallest size
(at most 100,000), ``full_scan_inclusion_us_<size>``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common import audit_log, log_tree, merkle
from services.common.audit_log import Entry
from services.common.bulk_insert import insert_many
from services.common.database import Database
from services.common.log_tables import audit_leaves, audit_nodes
from services.common.migrate import upgrade

AT = datetime(2026, 12, 4, tzinfo=UTC)
BATCH = 50_000
#: The old way (every leaf hash read) is timed only on a log this small or smaller.
FULL_SCAN_MAX = 100_000
LEAF_COLUMNS = ("idx", "kind", "ref", "payload_sha256", "leaf_hash", "at")


def _entry(i: int) -> Entry:
    return Entry("bench", f"B{i}", hashlib.sha256(i.to_bytes(8, "big")).hexdigest())


def leaf_of(i: int) -> bytes:
    """The leaf hash of entry ``i`` (what the append path stores for it)."""
    return merkle.leaf_hash(audit_log.leaf_data(_entry(i)))


def _leaf_rows(start: int, end: int) -> Iterator[tuple[Any, ...]]:
    for i in range(start, end):
        e = _entry(i)
        yield (i, e.kind, e.ref, e.payload_sha256, leaf_of(i).hex(), AT)


def build(db: Database, size: int) -> float:
    """Fill an empty log with ``size`` leaves and their subtrees; seconds taken."""
    began = time.perf_counter()
    stack: list[bytes] = []
    for start in range(0, size, BATCH):
        end = min(size, start + BATCH)
        rows = list(_leaf_rows(start, end))
        tops = stack
        nodes = list(log_tree.nodes_of(start, tops, (bytes.fromhex(r[4]) for r in rows)))
        with db.transaction() as conn:
            insert_many(conn, audit_leaves, LEAF_COLUMNS, rows)
            insert_many(conn, audit_nodes, ("level", "idx", "hash"), nodes)
            stack = log_tree.frontier(conn, end)
    return time.perf_counter() - began


def _timed(db: Database, make: Callable[[Any], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    with db.read() as conn:
        out = make(conn)
    return (time.perf_counter() - began) * 1e6, out


def measure(db: Database, size: int, proofs: int, rng: random.Random) -> dict[str, float]:
    """Median / p99 microseconds per proof, each checked against the root."""
    with db.read() as conn:
        top = log_tree.root_at(conn, size)
    reads: list[int] = []
    most = 0
    real_read = log_tree.read

    def counting(conn: Any, keys: Any) -> dict[merkle.Node, bytes]:
        found = real_read(conn, keys)
        reads.append(len(found))
        return found

    log_tree.read = counting  # type: ignore[assignment]
    try:
        inclusion, consistency = [], []
        for _ in range(proofs):
            index, old = rng.randrange(size), rng.randint(1, size)
            reads.clear()
            us, path = _timed(db, lambda c, i=index: log_tree.inclusion_proof(c, i, size))
            inclusion.append(us)
            most = max(most, sum(reads))
            if not merkle.verify_inclusion(leaf_of(index), index, size, path, top):
                raise SystemExit(f"inclusion proof of {index} in {size} does not verify")
            with db.read() as conn:
                old_root = log_tree.root_at(conn, old)
            reads.clear()
            us, proof = _timed(db, lambda c, o=old: log_tree.consistency_proof(c, o, size))
            consistency.append(us)
            most = max(most, sum(reads))
            if not merkle.verify_consistency(old, size, old_root, top, proof):
                raise SystemExit(f"consistency proof {old} -> {size} does not verify")
    finally:
        log_tree.read = real_read  # type: ignore[assignment]
    return {
        f"inclusion_us_{size}": round(statistics.median(inclusion), 1),
        f"inclusion_p99_us_{size}": round(sorted(inclusion)[int(len(inclusion) * 0.99)], 1),
        f"consistency_us_{size}": round(statistics.median(consistency), 1),
        f"hashes_read_max_{size}": most,
    }


def full_scan(db: Database, size: int, rng: random.Random, proofs: int = 20) -> float:
    """The old way: every leaf hash up to the head read, the proof hashed from them."""
    times = []
    for _ in range(proofs):
        index = rng.randrange(size)
        us, _ = _timed(
            db, lambda c, i=index: merkle.inclusion_proof(audit_log.leaf_hashes(c, size), i)
        )
        times.append(us)
    return round(statistics.median(times), 1)


def _store(args: argparse.Namespace, size: int, tmp: Path) -> tuple[Database, float | None]:
    if args.url:
        db = Database(args.url)
    else:
        where = Path(args.keep) if args.keep else tmp
        where.mkdir(parents=True, exist_ok=True)
        db = Database(f"sqlite:///{where / f'log-{size}.db'}")
    upgrade(db)
    with db.read() as conn:
        have = audit_log.size(conn)
    if have == size:
        return db, None  # kept from an earlier run
    if have:
        raise SystemExit(f"{db.url} holds another log; give an empty store")
    return db, build(db, size)


def main(argv: list[str] | None = None) -> int:
    """Build, measure and report each size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000,10000000")
    parser.add_argument("--proofs", type=int, default=1000, help="proofs of each kind per size")
    parser.add_argument("--url", default="", help="an empty database instead of SQLite")
    parser.add_argument("--keep", default="", help="keep the SQLite stores in this directory")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict[str, float] = {}
    rng = random.Random(6962)
    with tempfile.TemporaryDirectory(prefix="yihao-proofs-") as tmp:
        for size in sizes:
            db, built = _store(args, size, Path(tmp))
            if built is not None:
                figures[f"build_s_{size}"] = round(built, 1)
            got = measure(db, size, args.proofs, rng)
            if size == min(sizes) and size <= FULL_SCAN_MAX:
                got[f"full_scan_inclusion_us_{size}"] = full_scan(db, size, rng)
            figures.update(got)
            print(f"{size:>10,} leaves: " + ", ".join(f"{k}={v}" for k, v in got.items()))
            sys.stdout.flush()
            db.dispose()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
