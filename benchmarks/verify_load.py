"""The load generators of :mod:`benchmarks.verify`: what each spawned process does (Ping or
VerifyLicence in a closed or open loop, or one VerifyBatch stream), and what it reports back.
Each has its own channel and calls as the counter handler "hall"; every answer is checked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import grpc

from benchmarks.issue import holder_name
from benchmarks.load import describe, shares
from testsupport.serverproc import ServerProcess
from yihao.v1 import common_pb2 as common
from yihao.v1 import common_pb2_grpc, verifier_pb2_grpc
from yihao.v1 import licence_store_pb2 as store_pb
from yihao.v1 import verifier_pb2 as pb

ALIAS = "hall"
RPC_TIMEOUT = 30.0
PHASE_TIMEOUT = 900.0
PURPOSE = "benchmark"
CASE_NUMBER = "BENCH-2026-0001"


@dataclass(frozen=True)
class Job:
    """What one load-generator process does. ``mode``: ping, verify, their open loops
    (ping_open, verify_open) or batch."""

    mode: str
    port: int
    var_dir: str
    targets: list[tuple[str, str]]  # (licence id, holder number)
    warmup: int
    calls: int
    threads: int
    worker: int = 0
    workers: int = 1
    rate: float = 0.0  # open loops: total calls per second over all workers
    chunk: int = 1000  # batch: items per VerifyBatch message
    names: bool = False  # present each holder's name too (verify_requests)


@dataclass
class WorkerResult:
    """What a worker measured (monotonic clock, comparable between processes on Linux)."""

    latencies: list[float] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    calls: int = 0
    unexpected: list[str] = field(default_factory=list)
    client_cpu: float = 0.0
    error: str | None = None


# --- the load generator (runs in spawned processes) ----------------------------------------


def _channel(job: Job) -> grpc.Channel:
    # Only the port and the PKI directory are needed to connect; the child has no Popen.
    remote = ServerProcess(None, job.port, Path(job.var_dir))  # type: ignore[arg-type]
    return remote.channel(ALIAS)


def verify_requests(
    targets: list[tuple[str, str]], *, names: bool = False
) -> list[pb.VerifyLicenceRequest]:
    """VerifyLicence by licence id with the holder's number presented, for each target
    (licence id, holder number, in the order imported); also what
    :mod:`benchmarks.profile_verify` asks. ``names``: the holder's name presented too, the
    one :func:`benchmarks.issue.request` gave the licence."""
    return [
        pb.VerifyLicenceRequest(
            licence=store_pb.LicenceRef(licence_id=licence_id),
            presented_holder_number=holder,
            presented_holder_name=holder_name(i) if names else "",
            purpose=PURPOSE,
            case_number=CASE_NUMBER,
        )
        for i, (licence_id, holder) in enumerate(targets)
    ]


def _check_verification(answer: pb.Verification, unexpected: list[str]) -> None:
    if (
        answer.verdict != pb.VERDICT_VALID or answer.holder_number_match != pb.HOLDER_MATCH_MATCH
    ) and len(unexpected) < 5:
        unexpected.append(
            f"{pb.Verdict.Name(answer.verdict)} {answer.reason} "
            f"{pb.HolderMatch.Name(answer.holder_number_match)} for {answer.licence_id}"
        )


def _unary_call(job: Job, channel: grpc.Channel, unexpected: list[str]) -> Callable[[int], None]:
    """One call of the job's RPC, the i-th (spreading over the licences)."""
    if job.mode in ("ping", "ping_open"):
        ping = common_pb2_grpc.DiagnosticsStub(channel).Ping
        ping_request = common.PingRequest(payload="p")

        def call_ping(i: int) -> None:
            ping(ping_request, timeout=RPC_TIMEOUT)

        return call_ping
    verify = verifier_pb2_grpc.VerifierStub(channel).VerifyLicence
    requests = verify_requests(job.targets, names=job.names)

    def call_verify(i: int) -> None:
        _check_verification(verify(requests[i % len(requests)], timeout=RPC_TIMEOUT), unexpected)

    return call_verify


def _unary(job: Job, barrier: Barrier) -> WorkerResult:
    result = WorkerResult()
    channel = _channel(job)
    call = _unary_call(job, channel, result.unexpected)
    offset = job.worker * 7919  # different workers start on different licences
    with ThreadPoolExecutor(job.threads) as pool:
        list(pool.map(lambda i: call(offset + i), range(job.warmup)))
        barrier.wait(PHASE_TIMEOUT)
        per_thread = shares(job.calls, job.threads)
        lock = threading.Lock()
        cpu0 = time.process_time()
        result.start = time.monotonic()

        def closed(t: int) -> None:
            mine: list[float] = []
            base = offset + job.warmup + t * 100_003
            for k in range(per_thread[t]):
                begin = time.monotonic()
                call(base + k)
                mine.append(time.monotonic() - begin)
            with lock:
                result.latencies.extend(mine)

        total_threads = job.threads * job.workers
        t0 = result.start + 0.05

        def open_loop(t: int) -> None:
            # Thread g of all sends at t0 + (g + k·threads)/rate: a fixed overall rate.
            mine: list[float] = []
            g = job.worker * job.threads + t
            base = offset + job.warmup + t * 100_003
            for k in range(per_thread[t]):
                scheduled = t0 + (g + k * total_threads) / job.rate
                delay = scheduled - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                call(base + k)
                mine.append(time.monotonic() - scheduled)
            with lock:
                result.latencies.extend(mine)

        body = open_loop if job.mode.endswith("_open") else closed
        for future in [pool.submit(body, t) for t in range(job.threads)]:
            future.result()
        result.end = time.monotonic()
        result.client_cpu = time.process_time() - cpu0
    result.calls = job.calls
    channel.close()
    return result


def _batch(job: Job, barrier: Barrier) -> WorkerResult:
    result = WorkerResult()
    channel = _channel(job)
    stub = verifier_pb2_grpc.VerifierStub(channel)
    requests = verify_requests(job.targets, names=job.names)

    def chunks(count: int) -> Iterator[pb.VerifyBatchRequest]:
        for start in range(0, count, job.chunk):
            chunk = pb.VerifyBatchRequest()
            items = chunk.items
            for i in range(start, min(count, start + job.chunk)):
                item = items.add()
                item.CopyFrom(requests[i % len(requests)])
                item.client_ref = str(i)
            yield chunk

    def run(count: int) -> int:
        answered = 0
        for response in stub.VerifyBatch(chunks(count), timeout=PHASE_TIMEOUT):
            for answer in response.results:
                _check_verification(answer, result.unexpected)
                if answer.client_ref != str(answered) and len(result.unexpected) < 5:
                    result.unexpected.append(f"answer {answered} for item {answer.client_ref}")
                answered += 1
        return answered

    run(job.warmup)
    barrier.wait(PHASE_TIMEOUT)
    cpu0 = time.process_time()
    result.start = time.monotonic()
    result.calls = run(job.calls)
    result.end = time.monotonic()
    result.client_cpu = time.process_time() - cpu0
    if result.calls != job.calls:
        result.error = f"VerifyBatch answered {result.calls} of {job.calls} items"
    channel.close()
    return result


def worker(job: Job, barrier: Barrier, out: Any) -> None:
    """Entry point of a load-generator process: the result (or the error) goes to ``out``."""
    try:
        result = _batch(job, barrier) if job.mode == "batch" else _unary(job, barrier)
    except BaseException as exc:  # reported to the parent, which prints it
        result = WorkerResult(error=f"{job.mode} worker {job.worker}: {describe(exc)}")
        barrier.abort()
    out.put(result)
