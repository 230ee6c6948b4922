"""Soak: mixed issue / verify / assist at about 70% of capacity, against PostgreSQL and Redis.

Run: ``.venv/bin/python -m benchmarks.soak [--seconds 300] [--load 0.7]``

Starts a durable PostgreSQL, Redis and one server process; measures the mixed workload's
capacity for a few seconds (closed loop), then runs an open loop at ``--load`` of it for
``--seconds``, and prints, per 10-second window, calls, errors, p50/p99 latency and the server's
resident memory. Ends with one JSON line (``errors`` must be 0; ``rss_growth`` compares the last
window's memory with the first after warm-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from benchmarks.issue import HOLDERS, request
from testsupport.imports import import_records
from testsupport.processes import PostgresServer, RedisServer
from testsupport.serverproc import ServerProcess, server_process
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as agrpc
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

WINDOW = 10.0
THREADS = 16


@dataclass
class Window:
    """What happened in one window of the run."""

    start: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rss_mb: float = 0.0


class Workload:
    """The operations of the mix, each a callable that raises on a wrong answer."""

    def __init__(self, server: ServerProcess, licence_ids: list[str]) -> None:
        self.store = server.store("market")
        self.verifier = vgrpc.VerifierStub(server.channel("hall"))
        self.assistance = agrpc.AssistanceStub(server.channel("housing"))
        self.ids = licence_ids
        self.n = 0
        self.lock = threading.Lock()

    def _next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n

    def op(self) -> Callable[[], None]:
        n = self._next()
        if n % 10 == 0:
            return lambda: self._issue(n)
        if n % 10 == 5:
            return lambda: self._assist(n)
        return lambda: self._verify(n)

    def _issue(self, n: int) -> None:
        licence = self.store.IssueLicence(request("soak", n), timeout=10)
        assert licence.version == 1

    def _verify(self, n: int) -> None:
        ref = pb.LicenceRef(licence_id=self.ids[n % len(self.ids)])
        answer = self.verifier.VerifyLicence(vpb.VerifyLicenceRequest(licence=ref), timeout=10)
        assert answer.verdict == vpb.VERDICT_VALID and answer.receipt_id

    def _assist(self, n: int) -> None:
        answer = self.assistance.SubmitRequest(
            apb.SubmitRequestRequest(
                idempotency_key=f"soak-assist-{n:09d}",
                item_code="XZXZ-SC-001",
                holder_number=HOLDERS[n % len(HOLDERS)],
                purpose="住房保障审核",
                case_number="SOAK-2026-0001",
            ),
            timeout=10,
        )
        assert answer.status == apb.REQUEST_STATUS_ANSWERED


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def capacity(work: Workload, seconds: float) -> float:
    """Mixed operations per second with THREADS clients in a closed loop."""
    done, stop = [0], time.monotonic() + seconds

    def loop() -> None:
        while time.monotonic() < stop:
            work.op()()
            done[0] += 1

    threads = [threading.Thread(target=loop) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / seconds


def soak(work: Workload, server: ServerProcess, rate: float, seconds: float) -> list[Window]:
    """Open loop at ``rate`` operations per second; latency counted from the scheduled send."""
    start = time.monotonic()
    windows = [Window(start + i * WINDOW) for i in range(int(seconds // WINDOW) + 1)]
    total = int(rate * seconds)
    counter = iter(range(total))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                k = next(counter, None)
            if k is None:
                return
            due = start + k / rate
            time.sleep(max(0.0, due - time.monotonic()))
            window = windows[min(int((due - start) // WINDOW), len(windows) - 1)]
            try:
                work.op()()
                window.latencies.append(time.monotonic() - due)
            except (grpc.RpcError, AssertionError) as exc:
                window.errors.append(type(exc).__name__ + ": " + str(exc)[:200])

    def sampler() -> None:
        for window in windows:
            time.sleep(max(0.0, window.start + WINDOW - time.monotonic()))
            window.rss_mb = _rss_mb(server.proc.pid)

    threads = [threading.Thread(target=worker) for _ in range(THREADS * 2)]
    sampling = threading.Thread(target=sampler, daemon=True)
    sampling.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [w for w in windows if w.latencies or w.errors]


def _ms(values: list[float], q: int) -> float:
    """The ``q``-th percentile in milliseconds."""
    if len(values) < 2:
        return round(values[0] * 1000, 2) if values else 0.0
    return round(statistics.quantiles(values, n=100)[q - 1] * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--load", type=float, default=0.7)
    parser.add_argument("--licences", type=int, default=500)
    args = parser.parse_args()
    pg = PostgresServer(durable=True).start()
    redis = RedisServer().start()
    try:
        url = pg.create_database("soak")
        with server_process(url, REDIS_URL=redis.url) as server:
            records = (
                pb.ImportRecord(line=i + 1, licence=request("base", i))
                for i in range(args.licences)
            )
            ids = [r.licence_id for r in import_records(server.store("market"), records)]
            work = Workload(server, ids)
            cap = capacity(work, 10.0)
            rate = cap * args.load
            print(
                f"capacity {cap:.0f} ops/s (mix: 80% verify, 10% issue, 10% assist); "
                f"soaking at {rate:.0f} ops/s for {args.seconds:.0f} s",
                flush=True,
            )
            windows = soak(work, server, rate, args.seconds)
    finally:
        redis.stop()
        pg.cleanup()
    print(f"{'window':>8} {'calls':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} {'rss MB':>8}")
    for i, w in enumerate(windows):
        print(
            f"{i * WINDOW:>7.0f}s {len(w.latencies):>7} {len(w.errors):>7} "
            f"{_ms(w.latencies, 50):>8} {_ms(w.latencies, 99):>8} {w.rss_mb:>8.1f}"
        )
    errors = [e for w in windows for e in w.errors]
    for e in errors[:10]:
        print("error:", e)
    steady = [w.rss_mb for w in windows[1:] if w.rss_mb] or [0.0]
    print(
        json.dumps(
            {
                "capacity_ops_per_s": round(cap),
                "rate_ops_per_s": round(rate),
                "seconds": args.seconds,
                "calls": sum(len(w.latencies) for w in windows),
                "errors": len(errors),
                "p50_ms": [_ms(w.latencies, 50) for w in windows],
                "p99_ms": [_ms(w.latencies, 99) for w in windows],
                "rss_mb": [round(w.rss_mb, 1) for w in windows],
                "rss_growth": round(steady[-1] / steady[0], 3) if steady[0] else None,
            }
        )
    )


if __name__ == "__main__":
    main()
