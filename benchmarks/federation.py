"""A forwarded verification against a local one, in one run.

Run: ``.venv/bin/python -m benchmarks.federation [--count N] [--threads T]``

Two regions (35 and 31) start as separate server processes on SQLite, federated with each
other (:mod:`testsupport.regions`). Region 35 issues ``--count`` licences, region 31 as many.
From this process, 31's service hall then verifies, ``--threads`` calls in flight:

* **local**: 31's own licences, answered by 31;
* **forwarded**: 35's licences at 31's counter: 31 signs an assertion, calls 35 over the
  federation port (mutual TLS), 35 verifies and signs its receipt, 31 checks it and seals its
  own receipt citing it.

For each: calls per second, p50/p99 latency, and server CPU per call in 31 and in 35 (from
/proc). Every answer is checked (VALID; a forwarded one names region 35 and a peer receipt).
Prints a table, then as the last line one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testsupport.regions import Region, credit_code, federate, prepare, running
from testsupport.serverproc import ServerProcess
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as spb
from yihao.v1 import licence_store_pb2_grpc as spb_grpc
from yihao.v1 import verifier_pb2 as pb
from yihao.v1 import verifier_pb2_grpc as pb_grpc


def _issue(region: Region, count: int) -> list[str]:
    store = spb_grpc.LicenceStoreStub(region.channel(region.market))
    ids = []
    for n in range(count):
        licence = store.IssueLicence(
            spb.IssueLicenceRequest(
                idempotency_key=secrets.token_hex(8),
                type_code=region.licence_type,
                licence_number=f"{region.code}-B-{n:06d}",
                holder=common.Holder(
                    kind=common.HOLDER_KIND_ORGANISATION,
                    number=credit_code(region.division, f"bench-{n}"),
                    name="基准测试有限公司",
                ),
                fields={"address": "基准路1号"},
            ),
            timeout=30,
        )
        ids.append(licence.licence_id)
    return ids


def _measure(
    stub: Any,
    ids: list[str],
    threads: int,
    check: Callable[[pb.Verification], None],
    servers: dict[str, ServerProcess],
) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    shares = [ids[i::threads] for i in range(threads)]

    def work(mine: list[str]) -> None:
        own = []
        for licence_id in mine:
            began = time.perf_counter()
            answer = stub.VerifyLicence(
                pb.VerifyLicenceRequest(licence=spb.LicenceRef(licence_id=licence_id)),
                timeout=30,
            )
            own.append(time.perf_counter() - began)
            check(answer)
        with lock:
            latencies.extend(own)

    cpu_before = {name: s.cpu_seconds() for name, s in servers.items()}
    began = time.perf_counter()
    workers = [threading.Thread(target=work, args=(share,)) for share in shares]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    calls = len(latencies)
    figures = {
        "calls": float(calls),
        "per_second": calls / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": sorted(latencies)[max(0, int(calls * 0.99) - 1)] * 1000,
    }
    for name, server in servers.items():
        figures[f"cpu_us_{name}"] = (server.cpu_seconds() - cpu_before[name]) / calls * 1e6
    return figures


def _local(answer: pb.Verification) -> None:
    assert answer.verdict == pb.VERDICT_VALID and not answer.region, answer


def _forwarded(answer: pb.Verification) -> None:
    assert answer.verdict == pb.VERDICT_VALID, answer
    assert answer.region == "35" and answer.peer_receipt_id, answer


def _run(base: Path, count: int, threads: int) -> tuple[dict[str, float], dict[str, float]]:
    """Two federated regions under ``base``: local and forwarded verifications measured."""
    a, b = prepare("35", "福建省", base), prepare("31", "上海市", base)
    federate([a, b], timeout_seconds=10.0)
    with running(a, base / "35.log") as server_a, running(b, base / "31.log") as server_b:
        in_a, in_b = _issue(a, count), _issue(b, count)
        stub = pb_grpc.VerifierStub(b.channel(b.hall))
        servers = {"31": server_b, "35": server_a}
        _measure(stub, in_b[:20] + in_a[:20], 2, lambda _a: None, servers)  # warm up
        local = _measure(stub, in_b, threads, _local, servers)
        forwarded = _measure(stub, in_a, threads, _forwarded, servers)
    return local, forwarded


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.federation", description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="licences per region")
    parser.add_argument("--threads", type=int, default=4, help="calls in flight")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yihao-federation-bench-") as tmp:
        local, forwarded = _run(Path(tmp), args.count, args.threads)
    print(f"{'':10} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs 31':>10} {'CPU µs 35':>10}")
    for name, f in (("local", local), ("forwarded", forwarded)):
        print(
            f"{name:10} {f['per_second']:9.0f} {f['p50_ms']:8.2f} {f['p99_ms']:8.2f}"
            f" {f['cpu_us_31']:10.0f} {f['cpu_us_35']:10.0f}"
        )
    ratio = forwarded["p50_ms"] / local["p50_ms"]
    print(f"forwarded / local p50 latency: {ratio:.2f}x")
    result = {
        "benchmark": "federation",
        "count": args.count,
        "threads": args.threads,
        "local": {k: round(v, 2) for k, v in local.items()},
        "forwarded": {k: round(v, 2) for k, v in forwarded.items()},
        "forwarded_over_local_p50": round(ratio, 2),
    }
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
