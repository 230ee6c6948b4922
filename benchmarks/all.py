"""`make bench`: every benchmark at a size that fits a few minutes, one table at the end.

Each benchmark runs in its own process (as it would alone) and ends with a JSON line; this
collects those lines into one table and prints them together as a final JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys

RUNS = (
    ("issue", ["--unary", "500", "--imports", "5000"]),
    ("verify", ["--count", "2000", "--open-loop", "1000", "--batch", "20000"]),
    ("soak", ["--seconds", "30"]),
    ("scale", ["--sizes", "10000,30000", "--calls", "1000"]),
)


def run(name: str, args: list[str]) -> dict[str, object]:
    """Run ``benchmarks.<name>``; its figures (the last line of output, as JSON)."""
    print(f"== {name} ==", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout, end="", flush=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(done.stderr[-2000:], file=sys.stderr)
        return {"error": f"exit {done.returncode}"}
    figures: dict[str, object] = json.loads(lines[-1])
    return figures


def main() -> None:
    results = {name: run(name, args) for name, args in RUNS}
    print("\n== all figures ==")
    width = max(len(f"{n}.{k}") for n, fig in results.items() for k in fig)
    for name, figures in results.items():
        for key, value in figures.items():
            if isinstance(value, list):
                continue  # per-window series are in the benchmark's own output above
            print(f"{name + '.' + key:<{width}}  {value}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
