"""Where a verification's server CPU goes: cProfile of the verifier's handlers, in process.

Run: ``.venv/bin/python -m benchmarks.profile_verify [--licences N] [--batch N] [--unary N]
[--threads T] [--top K] [--dump DIR] [--plain] [--names]``

A stack on SQLite (temporary directory, development PKI, demo catalogue) imports ``N``
business licences; then the verifier's servicer is called directly, without gRPC's transport
(so the profile holds the handler's own work): ``--batch`` VerifyBatch items in messages of
1,000 from one stream, then ``--unary`` VerifyLicence calls from ``--threads`` threads (so
concurrent receipts share group commits as on a server). Every thread of the process is
profiled (the receipt writers too). Each phase prints wall time and CPU per item (with the
profiler's own overhead: compare like with like) and the functions with the most own time;
``--dump`` writes each phase's ``pstats`` file for ``python -m pstats``. Profiled times are
each thread's CPU time (``time.thread_time``), which makes the profiler slow: ``--plain``
times the phases without it (best of three runs), for A/B comparisons. Modules running
compiled (:mod:`services.common.hot_path`) are invisible to cProfile: their time shows in
their callers; profile on pure Python (``YIHAO_PURE=1 make install``) to see inside them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.verify import import_licences
from benchmarks.verify_load import verify_requests
from services.common import heap, hot_path
from services.common.identity import Caller, acting_as
from services.common.ratelimit import DEFAULT_LIMITS
from services.licence_store import demo
from services.verifier.grpc_servicer import VerifierServicer
from testsupport.stack import dev_pki, settings_for, start_stack
from yihao.v1 import verifier_pb2 as pb

Stats = dict[tuple[str, int, str], tuple[int, int, float, float, dict[Any, Any]]]


class AllThreads:
    """cProfile in this thread and every thread started after :meth:`install`, always on; a
    phase's profile is the difference of two snapshots (a thread's profiler can only be
    switched on and off from that thread, and the receipt writers live on)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        threading.setprofile(self._hook)
        self._hook(None, "", None)

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        # Each thread's CPU time, not wall time: waits (the GIL, locks, I/O) count nothing.
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def snapshot(self) -> Stats:
        """Every thread's figures so far, summed (as ``pstats`` holds them)."""
        total: Stats = {}
        with self._lock:
            profiles = list(self.profiles)
        for profile in profiles:
            for func, (cc, nc, tt, ct, callers) in _snapshot(profile).items():
                if func in total:
                    cc0, nc0, tt0, ct0, callers0 = total[func]
                    merged = dict(callers0)
                    for caller, figures in callers.items():
                        merged[caller] = _add(merged.get(caller), figures)
                    total[func] = (cc0 + cc, nc0 + nc, tt0 + tt, ct0 + ct, merged)
                else:
                    total[func] = (cc, nc, tt, ct, dict(callers))
        return total


def _add(a: Any, b: Any, sign: int = 1) -> Any:
    return b if a is None else tuple(x + sign * y for x, y in zip(a, b, strict=True))


def _label(code: Any) -> tuple[str, int, str]:
    if isinstance(code, str):
        return ("~", 0, code)
    return (code.co_filename, code.co_firstlineno, code.co_name)


def _snapshot(profile: cProfile.Profile) -> Stats:
    """``cProfile.Profile.snapshot_stats`` without disabling the profiler."""
    entries = profile.getstats()
    stats: Stats = {}
    callers_of: dict[int, dict[Any, Any]] = {}
    for entry in entries:
        callers: dict[Any, Any] = {}
        callers_of[id(entry.code)] = callers
        nc = entry.callcount
        stats[_label(entry.code)] = (
            nc - entry.reccallcount,
            nc,
            entry.inlinetime,
            entry.totaltime,
            callers,
        )
    for entry in entries:
        for sub in entry.calls or ():
            callers = callers_of.get(id(sub.code), {})
            nc = sub.callcount
            figures = (nc, nc - sub.reccallcount, sub.inlinetime, sub.totaltime)
            func = _label(entry.code)
            callers[func] = _add(callers.get(func), figures)
    return stats


def _difference(before: Stats, after: Stats) -> pstats.Stats:
    out: Stats = {}
    for func, (cc, nc, tt, ct, callers) in after.items():
        if func in before:
            cc0, nc0, tt0, ct0, callers0 = before[func]
            cc, nc, tt, ct = cc - cc0, nc - nc0, tt - tt0, ct - ct0
            callers = {
                c: _add(f, callers0[c], -1) if c in callers0 else f for c, f in callers.items()
            }
        if nc > 0:
            out[func] = (cc, nc, tt, ct, callers)

    class _Holder:
        stats = out

        def create_stats(self) -> None:
            pass

    return pstats.Stats(_Holder())  # type: ignore[arg-type]


def _batch(
    servicer: VerifierServicer, requests: list[pb.VerifyLicenceRequest], count: int
) -> Callable[[], int]:
    def chunks() -> Iterator[pb.VerifyBatchRequest]:
        for start in range(0, count, 1000):
            chunk = pb.VerifyBatchRequest()
            for i in range(start, min(count, start + 1000)):
                item = chunk.items.add()
                item.CopyFrom(requests[i % len(requests)])
                item.client_ref = str(i)
            yield chunk

    def run() -> int:
        answered = 0
        for response in servicer.VerifyBatch(chunks(), None):  # encoded, as sent
            for answer in pb.VerifyBatchResponse.FromString(response).results:
                named = requests[answered % len(requests)].presented_holder_name
                want = pb.HOLDER_MATCH_MATCH if named else pb.HOLDER_MATCH_NOT_PRESENTED
                if answer.verdict != pb.VERDICT_VALID or answer.holder_name_match != want:
                    raise SystemExit(f"unexpected answer {answer}")
                answered += 1
        return answered

    return run


def _unary(
    servicer: VerifierServicer,
    caller: Caller,
    requests: list[pb.VerifyLicenceRequest],
    count: int,
    threads: int,
) -> Callable[[], int]:
    def one(t: int) -> int:
        with acting_as(caller):
            for k in range(t, count, threads):
                answer = servicer.VerifyLicence(requests[k % len(requests)], None)
                if isinstance(answer, bytes):  # encoded, as gRPC sends it (the client parses)
                    answer = pb.Verification.FromString(answer)
                if answer.holder_number_match != pb.HOLDER_MATCH_MATCH:
                    raise SystemExit(f"unexpected answer {answer}")
        return len(range(t, count, threads))

    def run() -> int:
        with ThreadPoolExecutor(threads, thread_name_prefix="caller") as pool:
            return sum(pool.map(one, range(threads)))

    return run


def _measure(
    name: str, run: Callable[[], int], threads: AllThreads | None, top: int, dump: Path | None
) -> None:
    run()  # warm: memos filled, pools and threads started
    if threads is None:
        best = min((_timed(run) for _ in range(3)), key=lambda t: t[1])
        print(
            f"== {name}: {best[0]:.1f} µs wall and {best[1]:.1f} µs CPU per item, not profiled "
            f"(best of 3; load average {os.getloadavg()[0]:.2f})"
        )
        return
    before = threads.snapshot()
    cpu0, wall0 = time.process_time(), time.monotonic()
    items = run()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stats = _difference(before, threads.snapshot())
    print(
        f"\n== {name}: {items} items, {wall / items * 1e6:.1f} µs wall and "
        f"{cpu / items * 1e6:.1f} µs CPU per item under the profiler "
        f"(load average {os.getloadavg()[0]:.2f})"
    )
    stats.sort_stats("tottime").print_stats(top)
    if dump is not None:
        dump.mkdir(parents=True, exist_ok=True)
        stats.dump_stats(str(dump / f"{name}.pstats"))


def _timed(run: Callable[[], int]) -> tuple[float, float]:
    cpu0, wall0 = time.process_time(), time.monotonic()
    items = run()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return wall / items * 1e6, cpu / items * 1e6


@contextmanager
def stack_with_licences(prefix: str, licences: int) -> Iterator[tuple[Any, Any, Path]]:
    """A stack on SQLite in a temporary directory (development PKI, demo catalogue, rate
    limits out of the way as in ``benchmarks.verify``) holding ``licences`` imported business
    licences: (stack, the licences as ``import_licences`` gives them, the directory)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        var = Path(tmp)
        pki = dev_pki(var / "pki")
        limits = json.dumps({k: [1e6, 10**6] for k in DEFAULT_LIMITS})
        settings = settings_for(f"sqlite:///{var / 'yihao.db'}", var, pki, rate_limits_json=limits)
        stack = start_stack(settings, pki)
        try:
            yield stack, import_licences(stack, licences), var  # type: ignore[arg-type]
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--licences", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=20_000, help="VerifyBatch items")
    parser.add_argument("--unary", type=int, default=2_000, help="VerifyLicence calls")
    parser.add_argument("--threads", type=int, default=8, help="VerifyLicence callers")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--dump", type=Path, default=None)
    parser.add_argument(
        "--plain", action="store_true", help="no profiler: time each phase (best of 3)"
    )
    parser.add_argument(
        "--names", action="store_true", help="present each holder's name too (as a counter does)"
    )
    args = parser.parse_args()
    # Compiled modules run as C: cProfile sees nothing inside them (YIHAO_PURE=1 make install
    # for a profile of every function).
    print(hot_path.describe(), flush=True)
    threads = None if args.plain else AllThreads()
    if threads is not None:
        threads.install()
    with stack_with_licences("yihao-profile-", args.licences) as (stack, targets, _):
        servicer = VerifierServicer(stack.app.verifier)
        caller = Caller(demo.code_of("hall"))
        requests = verify_requests(targets, names=args.names)
        heap.settle()  # as a server does before serving
        if args.batch:
            with acting_as(caller):
                _measure(
                    "VerifyBatch",
                    _batch(servicer, requests, args.batch),
                    threads,
                    args.top,
                    args.dump,
                )
        if args.unary:
            _measure(
                "VerifyLicence",
                _unary(servicer, caller, requests, args.unary, args.threads),
                threads,
                args.top,
                args.dump,
            )


if __name__ == "__main__":
    main()
