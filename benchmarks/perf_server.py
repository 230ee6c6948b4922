"""Where a real server's CPU goes, by compiled function: ``perf record`` of the server process
under load, each sample charged to the compiled (mypyc) function nearest it on its stack.

Run: ``.venv/bin/python -m benchmarks.perf_server [--mode batch|verify|ping] [--calls N]
[--seconds S] [--top K] [--names] [--script-out FILE]`` (needs Linux ``perf`` and permission
to record another process: ``perf_event_paranoid`` ≤ 1, or root). ``--names``: each request
presents the holder's name as well as the number, as a counter does.

A server on SQLite with the demo catalogue imports 1,000 licences (as ``benchmarks.verify``
does); then one load generator drives it — one VerifyBatch stream of ``--calls`` items in
messages of 1,000, or VerifyLicence (or Ping) from 2 processes × 4 threads — and once it is
past its warm-up, ``perf record`` samples the server for ``--seconds`` with DWARF call
stacks. cProfile cannot see inside compiled modules and sees no C at all; here a sample in C
(SQLite, hashing, the allocator, the kernel) counts for the compiled function that called
it, so each row reads "this function and what it called outside compiled code". Samples with
no compiled frame on their stack (the interpreter, gRPC's threads) are charged to their
leaf, marked ``[other]``. Two tables follow: by nearest compiled frame (they add up to 100 %)
and inclusive (a function and everything under it), then one JSON line of the first.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

#: The prefix mypyc gives a compiled function's C symbol.
COMPILED = "CPyDef_"
_OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def stacks(script: Iterable[str]) -> Iterator[list[str]]:
    """The call stacks in ``perf script -F comm,tid,ip,sym`` output, leaf first, each frame a
    symbol (offsets and ``(inlined)`` marks dropped)."""
    frames: list[str] = []
    started = False
    for line in script:
        if not line.strip():
            if started:
                yield frames
            frames, started = [], False
        elif not line[0].isspace():
            started = True  # the sample's header: comm, tid
        else:
            parts = line.split(None, 1)
            symbol = parts[1].strip() if len(parts) > 1 else "[unknown]"
            frames.append(_OFFSET.sub("", symbol.replace(" (inlined)", "")))
    if started:
        yield frames


def attribute(samples: Iterable[list[str]]) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, by nearest compiled frame, inclusive by compiled function)."""
    nearest: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for frames in samples:
        total += 1
        compiled = [f for f in frames if f.startswith(COMPILED)]
        leaf = frames[0] if frames else "[unknown]"
        nearest[compiled[0][len(COMPILED) :] if compiled else f"[other] {leaf}"] += 1
        for name in set(compiled):
            inclusive[name[len(COMPILED) :]] += 1
    return total, nearest, inclusive


def _table(title: str, counts: Counter[str], total: int, top: int) -> None:
    print(f"--- {title}")
    for name, n in counts.most_common(top):
        print(f"{n / total * 100:6.1f} %  {name}")


def _record(pid: int, seconds: float, out: Path, after: float) -> None:
    time.sleep(after)  # past the load's warm-up
    subprocess.run(
        [
            *("perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(pid)),
            *("-o", str(out), "--", "sleep", str(seconds)),
        ],
        capture_output=True,
        check=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["batch", "verify", "ping"], default="batch")
    parser.add_argument("--calls", type=int, default=400_000, help="items (batch) or calls")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long perf records")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--names", action="store_true", help="present each holder's name too (as a counter does)"
    )
    parser.add_argument(
        "--script-out", type=Path, help="also write perf script's text here (to dig further)"
    )
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf_server: needs Linux perf on PATH (Debian: apt-get install linux-perf)")

    from benchmarks.verify import import_licences, measure
    from benchmarks.verify_load import Job
    from services.common import hot_path
    from testsupport.serverproc import server_process

    print(hot_path.describe(), flush=True)
    with tempfile.TemporaryDirectory(prefix="yihao-perf-") as tmp, server_process(None) as server:
        data = Path(tmp) / "perf.data"
        targets = import_licences(server, 1000)
        if args.mode == "batch":
            jobs = [
                Job(
                    "batch",
                    server.port,
                    str(server.var_dir),
                    targets,
                    1000,
                    args.calls,
                    1,
                    names=args.names,
                )
            ]
        else:
            jobs = [
                Job(
                    args.mode,
                    server.port,
                    str(server.var_dir),
                    targets,
                    200,
                    share,
                    4,
                    w,
                    2,
                    names=args.names,
                )
                for w, share in enumerate((args.calls // 2, args.calls - args.calls // 2))
            ]
        recorder = threading.Thread(target=_record, args=(server.proc.pid, args.seconds, data, 3.0))
        recorder.start()
        figures = measure(server, jobs)
        recorder.join()
        print(
            f"{args.mode}: {figures.per_s:,.0f} a second, server {figures.cpu_us:.1f} µs of "
            "CPU each (perf's own overhead included)"
        )
        if not data.exists():
            sys.exit("perf_server: perf recorded nothing (permission? perf_event_paranoid)")
        script = subprocess.run(
            ["perf", "script", "-i", str(data), "-F", "comm,tid,ip,sym"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if args.script_out is not None:
        args.script_out.write_text(script)
    total, nearest, inclusive = attribute(stacks(script.splitlines()))
    if not total:
        sys.exit("perf_server: no samples (the load ended before perf started? raise --calls)")
    print(f"{total} samples")
    _table(
        "by nearest compiled frame (with what it called outside compiled code)",
        nearest,
        total,
        args.top,
    )
    _table("inclusive", inclusive, total, args.top)
    print(
        json.dumps(
            {
                "mode": args.mode,
                "samples": total,
                "nearest_pct": {
                    k: round(n / total * 100, 2) for k, n in nearest.most_common(args.top)
                },
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
