"""Closed-loop load from spawned client processes, with the server's CPU read around it.

A :class:`Job` names a module-level *plan* function (so it pickles into a spawned process):
``plan(channel, worker, *args)`` prepares its requests and returns ``call(i)``, which makes the
i-th call and returns a problem description or None. Each client process runs its warm-up
calls, waits at a barrier with the others and the measuring process, then makes its calls from
``threads`` threads, one in flight each, timing every call. The measuring process reads the
server's CPU counters (all its processes) after the barrier and after the last result, so
warm-up and process start-up are not counted.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import grpc

from testsupport.serverproc import ServerProcess, client_channel

PHASE_TIMEOUT = 1800.0

#: ``plan(channel, worker, *args) -> call``; ``call(i)`` returns a problem or None.
Plan = Callable[..., Callable[[int], str | None]]


class PhaseFailed(Exception):
    """A measured phase could not complete (an RPC failed or a client process died)."""


@dataclass(frozen=True)
class Job:
    """What one client process does."""

    port: int
    var_dir: str
    alias: str
    plan: Plan
    args: tuple[Any, ...]
    warmup: int
    calls: int
    threads: int
    worker: int = 0


@dataclass
class ClientResult:
    """What one client process measured (monotonic clock, comparable across processes)."""

    latencies: list[float] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    problems: list[str] = field(default_factory=list)
    client_cpu: float = 0.0
    error: str | None = None


@dataclass
class Figures:
    """One measured phase, summed over its client processes."""

    calls: int
    seconds: float
    server_cpu: float
    client_cpu: float
    latencies: list[float]
    problems: list[str]
    db_cpu: float = 0.0

    @property
    def db_cpu_us(self) -> float:
        """Database server CPU per call (PostgreSQL's processes), in µs."""
        return self.db_cpu / self.calls * 1e6 if self.calls else 0.0

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """Server CPU (user + system, every server process) per call, in µs."""
        return self.server_cpu / self.calls * 1e6 if self.calls else 0.0

    @property
    def client_cpu_us(self) -> float:
        """Client CPU (every client process) per call, in µs."""
        return self.client_cpu / self.calls * 1e6 if self.calls else 0.0

    def ms(self, p: float) -> float:
        """The p-th percentile latency in milliseconds (nearest rank)."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1e3 if ordered else 0.0


def describe(exc: BaseException) -> str:
    """An RPC error as CODE: details; anything else with its traceback."""
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return f"{exc.code().name}: {exc.details()}"
    return "".join(traceback.format_exception(exc)).rstrip()


def shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if k < total % parts else 0) for k in range(parts)]


def _run(job: Job, barrier: Barrier) -> ClientResult:
    result = ClientResult()
    channel = client_channel(Path(job.var_dir), job.port, job.alias)
    call = job.plan(channel, job.worker, *job.args)
    for i in range(job.warmup):
        call(i)
    barrier.wait(PHASE_TIMEOUT)
    lock = threading.Lock()
    cpu0 = time.process_time()

    def loop(t: int, count: int) -> None:
        mine: list[float] = []
        problems: list[str] = []
        for k in range(count):
            started = time.monotonic()
            problem = call(job.warmup + t + k * job.threads)
            mine.append(time.monotonic() - started)
            if problem and len(problems) < 3:
                problems.append(problem)
        with lock:
            result.latencies.extend(mine)
            result.problems.extend(problems)

    result.start = time.monotonic()
    with ThreadPoolExecutor(job.threads) as pool:
        for future in [
            pool.submit(loop, t, n) for t, n in enumerate(shares(job.calls, job.threads))
        ]:
            future.result()
    result.end = time.monotonic()
    result.client_cpu = time.process_time() - cpu0
    channel.close()
    return result


def _client(job: Job, barrier: Barrier, out: Any) -> None:
    """Entry point of a client process: its result (or its error) goes to ``out``."""
    try:
        result = _run(job, barrier)
    except BaseException as exc:  # reported to the parent
        result = ClientResult(error=f"client {job.worker}: {describe(exc)}")
        barrier.abort()
    out.put(result)


def run_clients(
    server: ServerProcess,
    target: Callable[[Any, Barrier, Any], None],
    jobs: Sequence[Any],
    db_cpu: Callable[[], float] = lambda: 0.0,
    probe: Callable[[], object] = lambda: None,
) -> tuple[list[Any], float, float]:
    """Run ``target(job, barrier, out)`` for each job in its own spawned process; each puts
    one result with an ``error`` attribute on ``out``. Returns the results and the server's
    and database's CPU seconds between the barrier (warm-up done) and the last result;
    ``probe`` is called at those two moments too (``benchmarks.threads`` reads each server
    thread's counters there)."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs) + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(job, barrier, out)) for job in jobs]
    for proc in procs:
        proc.start()
    try:
        # A broken barrier: a client failed before its measured part; its error is queued.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(PHASE_TIMEOUT)
        probe()
        cpu0, db0 = server.cpu_seconds(), db_cpu()
        results = [out.get(timeout=PHASE_TIMEOUT) for _ in jobs]
        cpu1, db1 = server.cpu_seconds(), db_cpu()
        probe()
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    errors = [r.error for r in results if r.error]
    if errors:
        raise PhaseFailed("\n".join(errors))
    return results, cpu1 - cpu0, db1 - db0


def measure(
    server: ServerProcess, jobs: list[Job], db_cpu: Callable[[], float] = lambda: 0.0
) -> Figures:
    """Run ``jobs``, each in its own spawned process; their figures summed. ``db_cpu`` reads
    the database server's CPU seconds (read at the same moments as the server's)."""
    results, server_cpu, database_cpu = run_clients(server, _client, jobs, db_cpu)
    return Figures(
        calls=sum(len(r.latencies) for r in results),
        seconds=max(r.end for r in results) - min(r.start for r in results),
        server_cpu=server_cpu,
        client_cpu=sum(r.client_cpu for r in results),
        latencies=[x for r in results for x in r.latencies],
        problems=[p for r in results for p in r.problems],
        db_cpu=database_cpu,
    )


def jobs(
    server: ServerProcess,
    alias: str,
    plan: Plan,
    args: tuple[Any, ...],
    *,
    calls: int,
    processes: int,
    threads: int,
    warmup: int,
) -> list[Job]:
    """``processes`` jobs sharing ``calls`` between them."""
    return [
        Job(server.port, str(server.var_dir), alias, plan, args, warmup, n, threads, worker=w)
        for w, n in enumerate(shares(calls, processes))
    ]
