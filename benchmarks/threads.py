"""Where a server's CPU goes by thread, and how often its threads sleep and wake, per call.

Run: ``.venv/bin/python -m benchmarks.threads [--count N] [--batch N] [--modes ping,verify,batch]``

A server on SQLite imports 1,000 licences (as ``benchmarks.verify`` does); then, for each
mode, the same load as there: ``Ping`` or ``VerifyLicence`` from 2 processes × 4 threads in a
closed loop, or one ``VerifyBatch`` stream. Between the end of the warm-up and the last answer
it reads each server thread's counters from ``/proc/<pid>/task/<tid>``: CPU (user + system)
and context switches, voluntary (the thread slept: a lock, the GIL, a socket) and involuntary
(the kernel took the CPU from it). Threads are grouped by the name the operating system shows
(:mod:`services.common.thread_names`; numbered ones together, ``rpc_*``): ``rpc_*`` run the
handlers, ``python`` is the main thread and gRPC's own polling thread, ``event_engine``,
``grpc_global_tim`` and ``lifeguard`` are gRPC's core threads. A thread that ended inside the
window (a stream's reader) is counted in the total's CPU, as ``(ended)``, not in its switches.

Each voluntary switch is a sleep and a wake-up of a thread; on a 2-core virtual machine each
costs tens of µs of the kernel's and the caches' time, which is why the figure matters here.
Prints one table per mode, then as the last line one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.verify import import_licences, measure
from benchmarks.verify_load import Job
from services.common import hot_path
from testsupport.serverproc import ServerProcess, cpu_ticks, server_process

#: A thread's group: its name without a trailing number (``rpc_7`` -> ``rpc_*``).
_NUMBERED = re.compile(r"[_-]?\d+$")


@dataclass(frozen=True)
class Sample:
    """One thread's counters at one moment."""

    name: str
    ticks: int  # user + system CPU, in clock ticks
    voluntary: int
    involuntary: int


@dataclass(frozen=True)
class Row:
    """One group of threads over a window, per call."""

    group: str
    threads: int
    cpu_us: float
    voluntary: float
    involuntary: float


def group_of(name: str) -> str:
    """The group a thread's name belongs to: numbered threads of one pool together."""
    stripped = _NUMBERED.sub("", name)
    return f"{stripped}_*" if stripped != name and stripped else name


def switches(status: str) -> tuple[int, int]:
    """(voluntary, involuntary) context switches from a ``/proc/.../status`` text."""
    found = dict.fromkeys(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"), 0)
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in found:
            found[key] = int(value)
    return found["voluntary_ctxt_switches"], found["nonvoluntary_ctxt_switches"]


def ticks_of(stat: str) -> int:
    """User + system clock ticks from a ``/proc/.../stat`` text."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def snapshot(pid: int) -> dict[int, Sample]:
    """Every live thread of process ``pid``, by thread id."""
    found: dict[int, Sample] = {}
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir():
        try:
            name = (task / "comm").read_text().strip()
            ticks = ticks_of((task / "stat").read_text())
            voluntary, involuntary = switches((task / "status").read_text())
        except OSError:  # ended meanwhile
            continue
        found[int(task.name)] = Sample(name, ticks, voluntary, involuntary)
    return found


def per_call(
    before: Mapping[int, Sample],
    after: Mapping[int, Sample],
    calls: int,
    process_ticks: int,
    hz: int,
) -> list[Row]:
    """Each group's CPU and switches per call between two snapshots, most CPU first; threads
    born meanwhile count from zero, and CPU the process used beyond its live threads' (threads
    that ended meanwhile) is the row ``(ended)``."""
    if calls <= 0:
        return []
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for tid, now in after.items():
        was = before.get(tid)
        if was is not None and was.name != now.name:  # a thread id used again
            was = None
        total = sums[group_of(now.name)]
        total[0] += 1
        total[1] += now.ticks - (was.ticks if was else 0)
        total[2] += now.voluntary - (was.voluntary if was else 0)
        total[3] += now.involuntary - (was.involuntary if was else 0)
    rows = [
        Row(group, n, ticks / hz / calls * 1e6, vol / calls, invol / calls)
        for group, (n, ticks, vol, invol) in sums.items()
    ]
    ended = process_ticks - sum(t for _, t, _, _ in sums.values())
    if ended > 0:
        rows.append(Row("(ended)", 0, ended / hz / calls * 1e6, 0.0, 0.0))
    return sorted(rows, key=lambda r: (-r.cpu_us, r.group))


def table(mode: str, calls: int, per_s: float, rows: Iterable[Row]) -> str:
    """The rows of one mode as text."""
    rows = list(rows)
    lines = [
        f"{mode}: {calls} calls, {per_s:,.0f} a second",
        f"  {'threads':<20}{'n':>4}{'CPU µs':>10}{'voluntary':>11}{'involuntary':>13}",
    ]
    for r in rows:
        lines.append(
            f"  {r.group:<20}{r.threads:>4}{r.cpu_us:>10.0f}{r.voluntary:>11.2f}"
            f"{r.involuntary:>13.2f}"
        )
    lines.append(
        f"  {'total':<20}{sum(r.threads for r in rows):>4}{sum(r.cpu_us for r in rows):>10.0f}"
        f"{sum(r.voluntary for r in rows):>11.2f}{sum(r.involuntary for r in rows):>13.2f}"
    )
    return "\n".join(lines)


def figures(rows: Iterable[Row]) -> dict[str, Any]:
    """One mode's rows for the JSON line."""
    rows = list(rows)
    return {
        "cpu_us_per_call": round(sum(r.cpu_us for r in rows), 1),
        "voluntary_switches_per_call": round(sum(r.voluntary for r in rows), 2),
        "involuntary_switches_per_call": round(sum(r.involuntary for r in rows), 2),
        "threads": {
            r.group: {
                "n": r.threads,
                "cpu_us": round(r.cpu_us, 1),
                "voluntary": round(r.voluntary, 2),
                "involuntary": round(r.involuntary, 2),
            }
            for r in rows
        },
    }


def _measure(
    server: ServerProcess, targets: list[tuple[str, str]], mode: str, count: int, batch: int
) -> tuple[int, float, list[Row]]:
    """One mode's load on ``server``: (calls, calls a second, rows per call)."""
    pid, port, var = server.proc.pid, server.port, str(server.var_dir)
    if mode == "batch":
        jobs = [Job("batch", port, var, targets, 1000, batch, 1)]
    else:
        jobs = [
            Job(mode, port, var, targets, 200, share, 4, w, 2)
            for w, share in enumerate((count // 2, count - count // 2))
        ]
    marks: list[tuple[dict[int, Sample], int]] = []
    fig = measure(server, jobs, probe=lambda: marks.append((snapshot(pid), cpu_ticks(pid))))
    (before, ticks0), (after, ticks1) = marks
    hz = os.sysconf("SC_CLK_TCK")
    return fig.calls, fig.per_s, per_call(before, after, fig.calls, ticks1 - ticks0, hz)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=6000, help="closed-loop calls per mode")
    parser.add_argument("--batch", type=int, default=100_000, help="VerifyBatch stream items")
    parser.add_argument("--modes", default="ping,verify,batch", help="comma-separated")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - {"ping", "verify", "batch"})
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)} (ping, verify, batch)")

    print(hot_path.describe(), flush=True)
    result: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "load_at_start": round(os.getloadavg()[0], 2),
    }
    with server_process(None) as server:
        targets = import_licences(server, 1000)
        for mode in modes:
            calls, per_s, rows = _measure(server, targets, mode, args.count, args.batch)
            print(table(mode, calls, per_s, rows), flush=True)
            result[mode] = figures(rows)
    print("(per call, or per item for batch; CPU is user + system)")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
