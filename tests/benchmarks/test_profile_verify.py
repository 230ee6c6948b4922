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
    out = _run("--batch", "2000", "--unary", "40", "--threads", "2", "--top", "5000")
    assert "verification hot path:" in out  # compiled code is invisible to cProfile: said
    assert "== VerifyBatch: 2000 items" in out
    assert "== VerifyLicence: 40 items" in out
    # Functions of modules never compiled (compiled ones do not show in a profile).
    assert "(verify_batch)" in out and "(VerifyLicence)" in out
    # The batch's receipts are written by the receipt writers' threads (its handler goes on
    # to the next chunk): their rows' inserts show that other threads are profiled too.
    batch_phase = out.split("== VerifyLicence:")[0]
    assert "(insert_many)" in batch_phase


def test_plain_timing() -> None:
    out = _run("--plain", "--batch", "1000", "--unary", "20", "--threads", "2")
    assert "VerifyBatch:" in out and "µs CPU per item, not profiled" in out
    assert "VerifyLicence:" in out


def test_names_presented_are_the_imported_holders_names() -> None:
    """With --names every item presents its licence's holder name: each batch answer must
    say MATCH (the run stops on any other), so the names follow the import order."""
    out = _run("--plain", "--names", "--batch", "1000", "--unary", "20", "--threads", "2")
    assert "VerifyBatch:" in out and "VerifyLicence:" in out
