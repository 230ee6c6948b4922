"""Verification cost against a no-op: VerifyLicence and Diagnostics.Ping through the same stack.

Run: ``.venv/bin/python -m benchmarks.verify [--count N] [--backend sqlite|postgresql]
[--server-workers N] [--names]``

``--names``: every verification presents the holder's name as well as the number, as a counter
handler does (by default the number alone); the JSON line says which (``names_presented``).

One server process (SQLite by default) holds ~1000 business licences imported as "market".
The load comes from separate worker processes (spawned, each with its own channel, calling
as the counter handler "hall"), so client CPU and the GIL stay out of the server's and the
measuring process. Measured in one run:

* closed loop (``--workers`` processes × ``--threads`` threads, one call each in flight):
  saturation throughput, server CPU per call (from /proc), p50/p99 latency, for Ping and for
  VerifyLicence (by licence id, with the holder's number presented, so the match runs);
* open loop: VerifyLicence at half the measured saturation rate, sends scheduled at fixed
  intervals and latency taken from the scheduled send time (no coordinated omission); then
  Ping in the same open loop at the same rate, for reference: the tail latency this host and
  the gRPC stack give any call at that rate (``noop_p99_ms_at_verify_half_load``);
* VerifyBatch: one stream of ``--batch`` items, ``--chunk`` per message, verifications per
  second and CPU per item (every answer checked: verdict, holder match, order).

With ``--server-workers N``, then the same again on a fresh store served by 1, 2, … N worker
processes sharing the port (``yihao serve --workers``), each measured in turn:
``VerifyLicence`` closed loop and ``VerifyBatch`` from ``2 × workers`` streams (the kernel
spreads connections over the workers by hash, so some may share one), throughput and server
CPU per call (every worker process counted). On a machine with as many cores as workers plus
the load generators, throughput should grow with the workers; on this project's 2-core
machine the load generators share the cores.

Prints a table, then as the last line one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from benchmarks.issue import HOLDERS, request
from benchmarks.load import Figures, PhaseFailed, run_clients, shares
from benchmarks.verify_load import ALIAS, Job, worker
from testsupport.serverproc import ServerProcess, backend, server_process
from yihao.v1 import licence_store_pb2 as store_pb

# --- the measuring process ------------------------------------------------------------------


def measure(
    server: ServerProcess, jobs: list[Job], probe: Callable[[], object] = lambda: None
) -> Figures:
    """Run ``jobs`` in spawned processes; server CPU is read between their start and end
    (``probe`` is called at both moments)."""
    results, server_cpu, _ = run_clients(server, worker, jobs, probe=probe)
    return Figures(
        calls=sum(r.calls for r in results),
        seconds=max(r.end for r in results) - min(r.start for r in results),
        server_cpu=server_cpu,
        client_cpu=sum(r.client_cpu for r in results),
        latencies=[x for r in results for x in r.latencies],
        problems=[u for r in results for u in r.unexpected],
    )


def import_licences(server: ServerProcess, total: int) -> list[tuple[str, str]]:
    """Import ``total`` business licences as "market": their (licence id, holder number)."""
    from testsupport.imports import import_records  # many records per message

    store = server.store("market")
    tag = uuid.uuid4().hex[:8]

    def records() -> Iterator[store_pb.ImportRecord]:
        for i in range(total):
            yield store_pb.ImportRecord(line=i + 1, licence=request(tag, i))

    targets: list[tuple[str, str]] = []
    for result in import_records(store, records(), per_message=500):
        if result.outcome != store_pb.IMPORT_OUTCOME_ACCEPTED:
            raise SystemExit(f"import line {result.line}: {result.reason_code} {result.reason}")
        targets.append((result.licence_id, HOLDERS[(result.line - 1) % len(HOLDERS)]))
    if len(targets) != total:
        raise SystemExit(f"import answered {len(targets)} of {total}")
    return targets


def _phase(name: str, run: Callable[[], Figures], errors: dict[str, str]) -> Figures | None:
    try:
        figures = run()
    except PhaseFailed as exc:
        errors[name] = str(exc)
        print(f"{name}: FAILED\n  " + str(exc).replace("\n", "\n  "), file=sys.stderr, flush=True)
        return None
    if figures.problems:
        print(f"{name}: unexpected answers, e.g. {figures.problems}", file=sys.stderr)
    return figures


@dataclass
class Scaled:
    """One row of the ``--server-workers`` figures."""

    workers: int
    verify: Figures | None
    batch: Figures | None
    batch_streams: int


def _scaled_jobs(
    mode: str, server: ServerProcess, targets: list[tuple[str, str]], args: Any, count: int
) -> list[Job]:
    """``count`` calls split over ``count`` processes: VerifyLicence clients or batch streams."""
    total = args.count if mode == "verify" else args.batch
    return [
        Job(
            mode,
            server.port,
            str(server.var_dir),
            targets,
            args.warmup if mode == "verify" else min(1000, share),
            share,
            args.threads if mode == "verify" else 1,
            w,
            count,
            chunk=args.chunk,
            names=args.names,
        )
        for w, share in enumerate(shares(total, count))
    ]


def scaling(args: argparse.Namespace, errors: dict[str, str]) -> list[Scaled]:
    """VerifyLicence and VerifyBatch with 1 … ``args.server_workers`` worker processes."""
    rows: list[Scaled] = []
    for n in range(1, args.server_workers + 1):
        with backend(args.backend) as url, server_process(url, workers=n) as server:
            targets = import_licences(server, args.licences)
            clients, streams = max(args.workers, 2 * n), 2 * n
            unary = _scaled_jobs("verify", server, targets, args, clients)
            batch = _scaled_jobs("batch", server, targets, args, streams)
            rows.append(
                Scaled(
                    n,
                    _phase(f"VerifyLicence, {n} workers", partial(measure, server, unary), errors),
                    _phase(f"VerifyBatch, {n} workers", partial(measure, server, batch), errors),
                    streams,
                )
            )
    return rows


def _scaling_table(rows: list[Scaled]) -> list[dict[str, Any]]:
    print(
        f"\n{'server workers':<16}{'verify/s':>10}{'server µs':>11}"
        f"{'batch items/s':>15}{'server µs':>11}{'× 1 worker':>12}"
    )
    base = rows[0].verify.per_s if rows and rows[0].verify else None
    out = []
    for r in rows:
        v, b = r.verify, r.batch
        ratio = f"{v.per_s / base:.2f}" if v and base else "-"
        print(
            f"{r.workers:<16}{(f'{v.per_s:.0f}' if v else 'FAILED'):>10}"
            f"{(f'{v.cpu_us:.0f}' if v else ''):>11}{(f'{b.per_s:.0f}' if b else 'FAILED'):>15}"
            f"{(f'{b.cpu_us:.1f}' if b else ''):>11}{ratio:>12}"
        )
        out.append(
            {
                "server_workers": r.workers,
                "verify_per_s": round(v.per_s) if v else None,
                "verify_cpu_us_per_call": round(v.cpu_us, 1) if v else None,
                "verify_batch_per_s": round(b.per_s) if b else None,
                "verify_batch_cpu_us_per_item": round(b.cpu_us, 1) if b else None,
                "verify_batch_streams": r.batch_streams,
            }
        )
    print("(× 1 worker: VerifyLicence throughput against one worker process)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=6000, help="closed-loop calls per RPC")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per worker")
    parser.add_argument("--open-loop", type=int, default=3000, help="calls at half load")
    parser.add_argument("--batch", type=int, default=100_000, help="VerifyBatch stream items")
    parser.add_argument("--chunk", type=int, default=1000, help="VerifyBatch items per message")
    parser.add_argument("--licences", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--names", action="store_true", help="verifications present the holder's name too"
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=0,
        metavar="N",
        help="then measure VerifyLicence and VerifyBatch with 1 … N server worker processes",
    )
    args = parser.parse_args()
    if args.server_workers < 0:
        parser.error("--server-workers: at least 1 (or 0: not measured)")

    errors: dict[str, str] = {}
    with backend(args.backend) as url, server_process(url) as server:
        load = os.getloadavg()[0]
        started = time.monotonic()
        targets = import_licences(server, args.licences)
        print(
            f"{args.backend}: imported {len(targets)} licences in "
            f"{time.monotonic() - started:.1f} s; clients: {args.workers} processes × "
            f"{args.threads} threads as {ALIAS!r}, os.cpu_count()={os.cpu_count()}, "
            f"load average {load:.2f} (other processes skew the figures)",
            flush=True,
        )

        def jobs(mode: str, calls: int, rate: float = 0.0, warmup: int = args.warmup) -> list[Job]:
            return [
                Job(
                    mode,
                    server.port,
                    str(server.var_dir),
                    targets,
                    warmup,
                    share,
                    args.threads,
                    w,
                    args.workers,
                    rate,
                    names=args.names,
                )
                for w, share in enumerate(shares(calls, args.workers))
            ]

        noop = _phase("Ping", lambda: measure(server, jobs("ping", args.count)), errors)
        verify = _phase(
            "VerifyLicence", lambda: measure(server, jobs("verify", args.count)), errors
        )
        half: Figures | None = None
        noop_half: Figures | None = None
        if verify is not None:
            rate = verify.per_s / 2
            half = _phase(
                "VerifyLicence @ 50%",
                lambda: measure(server, jobs("verify_open", args.open_loop, rate)),
                errors,
            )
            # The same open loop of no-ops: the tail this host and stack give any call at
            # that rate, to read the one above against (a reference, not a target).
            noop_half = _phase(
                "Ping @ VerifyLicence's half load",
                lambda: measure(server, jobs("ping_open", args.open_loop, rate)),
                errors,
            )
        batch_job = Job(
            "batch",
            server.port,
            str(server.var_dir),
            targets,
            warmup=min(1000, args.batch),
            calls=args.batch,
            threads=1,
            chunk=args.chunk,
            names=args.names,
        )
        batch = _phase("VerifyBatch", lambda: measure(server, [batch_job]), errors)

    scaled = scaling(args, errors) if args.server_workers else []
    in_flight = args.workers * args.threads
    print(
        f"\n{'':<22}{'calls':>8}{'calls/s':>10}{'server µs':>11}{'client µs':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}"
    )
    rows = [
        (f"Ping ({in_flight} in flight)", noop),
        (f"Verify ({in_flight} in flight)", verify),
        ("Verify @ 50% (open)", half),
        ("Ping @ same (open)", noop_half),
        ("VerifyBatch (1 stream)", batch),
    ]
    for label, f in rows:
        if f is None:
            print(f"{label:<22}{'FAILED':>8}")
            continue
        lat = f"{f.ms(50):>9.2f}{f.ms(99):>9.2f}" if f.latencies else f"{'':>9}{'':>9}"
        print(
            f"{label:<22}{f.calls:>8}{f.per_s:>10.0f}{f.cpu_us:>11.0f}{f.client_cpu_us:>11.0f}{lat}"
        )
    print("(server/client µs: CPU per call or item, user + system, all threads of the process)")

    def fig(f: Figures | None, value: Callable[[Figures], float], digits: int = 1) -> Any:
        return None if f is None else round(value(f), digits)

    result: dict[str, Any] = {
        "backend": args.backend,
        "names_presented": args.names,
        "cpu_count": os.cpu_count(),
        "in_flight": in_flight,
        "loadavg_1m_at_start": round(load, 2),
        "noop_per_s": fig(noop, lambda f: f.per_s, 0),
        "noop_cpu_us_per_call": fig(noop, lambda f: f.cpu_us),
        "noop_p50_ms": fig(noop, lambda f: f.ms(50), 2),
        "noop_p99_ms": fig(noop, lambda f: f.ms(99), 2),
        "verify_per_s": fig(verify, lambda f: f.per_s, 0),
        "verify_cpu_us_per_call": fig(verify, lambda f: f.cpu_us),
        "verify_p50_ms": fig(verify, lambda f: f.ms(50), 2),
        "verify_p99_ms": fig(verify, lambda f: f.ms(99), 2),
        "verify_vs_noop_throughput_ratio": (
            round(verify.per_s / noop.per_s, 3) if verify and noop else None
        ),
        "verify_vs_noop_cpu_ratio": round(verify.cpu_us / noop.cpu_us, 2)
        if verify and noop
        else None,
        "verify_half_load_per_s": fig(half, lambda f: f.per_s, 0),
        "verify_p50_ms_at_half_load": fig(half, lambda f: f.ms(50), 2),
        "verify_p99_ms_at_half_load": fig(half, lambda f: f.ms(99), 2),
        "noop_p50_ms_at_verify_half_load": fig(noop_half, lambda f: f.ms(50), 2),
        "noop_p99_ms_at_verify_half_load": fig(noop_half, lambda f: f.ms(99), 2),
        "verify_batch_per_s": fig(batch, lambda f: f.per_s, 0),
        "verify_batch_cpu_us_per_item": fig(batch, lambda f: f.cpu_us),
        "noop_client_cpu_us_per_call": fig(noop, lambda f: f.client_cpu_us),
        "verify_client_cpu_us_per_call": fig(verify, lambda f: f.client_cpu_us),
    }
    if scaled:
        result["server_workers"] = _scaling_table(scaled)
    if errors:
        result["errors"] = errors
    print(json.dumps(result, ensure_ascii=False), flush=True)
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
