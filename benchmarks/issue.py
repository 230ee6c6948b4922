"""Issuance throughput: unary IssueLicence and streaming ImportLicences, signing included.

Run: ``.venv/bin/python -m benchmarks.issue [--unary N] [--imports N]
[--backends sqlite,postgresql] [--streams S] [--workers W]``

The server runs in its own process (PostgreSQL durable: fsync on), or in ``W`` processes
sharing the port. Prints a table, then one JSON line with ``issue_unary_per_s_<backend>`` and
``import_per_s_<backend>`` (one ImportLicences stream); with ``--streams S`` > 1 also
``import_per_s_<backend>_<S>streams_<W>workers``: the same number of records split over ``S``
concurrent streams, each on its own connection (the kernel spreads connections over the
workers; two streams can land on the same one). The client runs on the same machine and
competes with the server for its cores.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from services.licence_store import demo
from testsupport.serverproc import ServerProcess, backend, server_process
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


def request(tag: str, i: int) -> pb.IssueLicenceRequest:
    number = f"{tag}-{i:09d}"
    return pb.IssueLicenceRequest(
        idempotency_key=f"bench:{number}",
        type_code=demo.BUSINESS_LICENCE.type_code,
        licence_number=number,
        holder=common.Holder(number=HOLDERS[i % len(HOLDERS)], name=f"福州示例企业{i}"),
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


def import_rate(server: ServerProcess, total: int, streams: int = 1) -> float:
    """Licences per second through ``streams`` concurrent ImportLicences streams."""
    shares = [total // streams + (k < total % streams) for k in range(streams)]
    stores = [server.store("market", own_connection=streams > 1) for _ in shares]
    tag = uuid.uuid4().hex[:8]

    def records(stream: int, count: int) -> Iterator[pb.ImportRecord]:
        for i in range(count):
            yield pb.ImportRecord(line=i + 1, licence=request(f"{tag}s{stream}", i))

    def run(stream: int) -> int:
        results = stores[stream].ImportLicences(records(stream, shares[stream]))
        return sum(r.outcome == pb.IMPORT_OUTCOME_ACCEPTED for r in results)

    start = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        accepted = sum(pool.map(run, range(streams)))
    elapsed = time.perf_counter() - start
    if accepted != total:
        raise SystemExit(f"import accepted {accepted} of {total}")
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--unary", type=int, default=2000)
    parser.add_argument("--imports", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--streams", type=int, default=1, help="also import over S streams")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for name in args.backends.split(","):
        with backend(name) as url, server_process(url, workers=args.workers) as server:
            unary = figures[f"issue_unary_per_s_{name}"] = round(
                unary_rate(server, args.unary, args.threads)
            )
            single = figures[f"import_per_s_{name}"] = round(import_rate(server, args.imports))
            line = (
                f"{name:>10}: IssueLicence {unary:>7}/s ({args.threads} clients)   "
                f"ImportLicences {single:>7}/s (1 stream)"
            )
            if args.streams > 1:
                key = f"import_per_s_{name}_{args.streams}streams_{args.workers}workers"
                parallel = figures[key] = round(import_rate(server, args.imports, args.streams))
                line += f" {parallel:>7}/s ({args.streams} streams, {args.workers} workers)"
        print(line, flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
