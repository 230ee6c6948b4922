"""Issuance throughput: unary IssueLicence and streaming ImportLicences, signing included.

Run: ``.venv/bin/python -m benchmarks.issue [--unary N] [--imports N]
[--backends sqlite,postgresql] [--streams S] [--workers W] [--per-message M]``

The server runs in its own process (PostgreSQL durable: fsync on), or in ``W`` processes
sharing the port. Imports go through the client library (``YihaoClient.import_licences``,
``M`` records per message). Prints a table, then one JSON line with
``issue_unary_per_s_<backend>`` and ``import_per_s_<backend>`` (one ImportLicences stream);
with ``--streams S`` > 1 also ``import_per_s_<backend>_<S>streams_<W>workers``: the same
number of records split over ``S`` concurrent streams, each on its own connection (the kernel
spreads connections over the workers; two streams can land on the same one). For each import
figure, ``..._cpu_us`` keys give CPU per record (µs) of the server, of PostgreSQL and of this
client process, read from ``/proc``. The client runs on the same machine and competes with the
server for its cores.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from clients.client import YihaoClient
from clients.resumable import DEFAULT_PER_MESSAGE
from services.licence_store import demo
from testsupport.processes import PostgresServer
from testsupport.serverproc import ServerProcess, server_process, tree_cpu_seconds
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

FIELDS = {
    "legal_representative": "王芳",
    "company_type": "有限责任公司",
    "registered_capital": "500",
    "established_on": "2020-05-22",
    "address": "福州市鼓楼区五四路1号",
    "business_scope": "软件开发；信息技术咨询服务",
}
HOLDERS = ["91350100M000100Y43", "91110000600037341L", "914403001922038216", "9135052155323005XL"]


def holder_name(i: int) -> str:
    """The holder name of the ``i``-th licence :func:`request` makes."""
    return f"福州示例企业{i}"


def request(tag: str, i: int) -> pb.IssueLicenceRequest:
    number = f"{tag}-{i:09d}"
    return pb.IssueLicenceRequest(
        idempotency_key=f"bench:{number}",
        type_code=demo.BUSINESS_LICENCE.type_code,
        licence_number=number,
        holder=common.Holder(number=HOLDERS[i % len(HOLDERS)], name=holder_name(i)),
        fields=FIELDS,
    )


def unary_rate(server: ServerProcess, total: int, threads: int) -> float:
    """Licences per second issued one RPC at a time by ``threads`` concurrent clients."""
    store = server.store("market")
    tag = uuid.uuid4().hex[:8]
    for i in range(50):  # warm-up
        store.IssueLicence(request(f"w{tag}", i))
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: store.IssueLicence(request(tag, i)), range(total)))
    return total / (time.perf_counter() - start)


@dataclass(frozen=True)
class ImportRun:
    """An import's rate and CPU per record (µs): server, PostgreSQL (0 on SQLite), client."""

    per_s: float
    server_us: float
    database_us: float
    client_us: float


def _own_cpu() -> float:
    return time.process_time()


def import_rate(
    server: ServerProcess,
    total: int,
    streams: int = 1,
    per_message: int = DEFAULT_PER_MESSAGE,
    database_pid: int | None = None,
) -> ImportRun:
    """Licences per second through ``streams`` concurrent ImportLicences streams."""
    shares = [total // streams + (k < total % streams) for k in range(streams)]
    clients = [YihaoClient(server.channel("market", own_connection=streams > 1)) for _ in shares]
    tag = uuid.uuid4().hex[:8]

    def records(stream: int, count: int) -> Iterator[pb.ImportRecord]:
        for i in range(count):
            yield pb.ImportRecord(line=i + 1, licence=request(f"{tag}s{stream}", i))

    def run(stream: int) -> int:
        results = clients[stream].import_licences(
            records(stream, shares[stream]), per_message=per_message
        )
        return sum(r.outcome == pb.IMPORT_OUTCOME_ACCEPTED for r in results)

    def cpu() -> tuple[float, float, float]:
        db = tree_cpu_seconds(database_pid) if database_pid else 0.0
        return server.cpu_seconds(), db, _own_cpu()

    before = cpu()
    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        accepted = sum(pool.map(run, range(streams)))
    elapsed = time.perf_counter() - start
    used = [(b - a) / total * 1e6 for a, b in zip(before, cpu(), strict=True)]
    if accepted != total:
        raise SystemExit(f"import accepted {accepted} of {total}")
    return ImportRun(total / elapsed, *used)


@contextmanager
def backend(name: str) -> Iterator[tuple[str | None, int | None]]:
    """(database URL, PostgreSQL's postmaster pid): SQLite → (None, None); "postgresql" → a
    durable PostgreSQL server started for the run."""
    if name == "sqlite":
        yield None, None
        return
    pg = PostgresServer(durable=True).start()
    try:
        url = pg.create_database("bench")
        yield url, int((pg.data / "postmaster.pid").read_text().split()[0])
    finally:
        pg.cleanup()


def _record_run(figures: dict[str, object], key: str, run: ImportRun) -> None:
    figures[key] = round(run.per_s)
    figures[f"{key}_cpu_us"] = {
        "server": round(run.server_us),
        "database": round(run.database_us),
        "client": round(run.client_us),
    }


def _describe(run: ImportRun) -> str:
    return (
        f"{run.per_s:>7.0f}/s (CPU per record: server {run.server_us:.0f} µs, "
        f"database {run.database_us:.0f} µs, client {run.client_us:.0f} µs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unary", type=int, default=2000)
    parser.add_argument("--imports", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--streams", type=int, default=1, help="also import over S streams")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--per-message", type=int, default=DEFAULT_PER_MESSAGE)
    args = parser.parse_args()
    figures: dict[str, object] = {}
    for name in args.backends.split(","):
        with backend(name) as (url, db_pid), server_process(url, workers=args.workers) as server:
            if args.unary:
                unary = figures[f"issue_unary_per_s_{name}"] = round(
                    unary_rate(server, args.unary, args.threads)
                )
                print(f"{name:>10}: IssueLicence {unary:>7}/s ({args.threads} clients)")
            import_rate(server, 2000, database_pid=db_pid)  # warm-up
            single = import_rate(
                server, args.imports, per_message=args.per_message, database_pid=db_pid
            )
            _record_run(figures, f"import_per_s_{name}", single)
            print(f"{name:>10}: ImportLicences {_describe(single)} (1 stream)", flush=True)
            if args.streams > 1:
                key = f"import_per_s_{name}_{args.streams}streams_{args.workers}workers"
                parallel = import_rate(server, args.imports, args.streams, args.per_message, db_pid)
                _record_run(figures, key, parallel)
                print(
                    f"{name:>10}: ImportLicences {_describe(parallel)} "
                    f"({args.streams} streams, {args.workers} workers)",
                    flush=True,
                )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
