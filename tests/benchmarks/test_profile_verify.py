"""The in-process profiler of the verifier's handlers runs, profiled and plain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_verify", "--licences", "20", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_profiled_phases_name_the_handlers_and_the_receipt_writers() -> None:
    out = _run("--batch", "2000", "--unary", "40", "--threads", "2", "--top", "200")
    assert "== VerifyBatch: 2000 items" in out
    assert "== VerifyLicence: 40 items" in out
    assert "(verify_batch)" in out and "(VerifyLicence)" in out
    assert "(_write_receipts)" in out  # the writer threads are profiled too


def test_plain_timing() -> None:
    out = _run("--plain", "--batch", "1000", "--unary", "20", "--threads", "2")
    assert "VerifyBatch:" in out and "µs CPU per item, not profiled" in out
    assert "VerifyLicence:" in out
