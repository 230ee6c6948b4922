"""The yardstick of VerifyLicence's work without its glue runs, and checks what it answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.tight_verify import valid_on

ROOT = Path(__file__).resolve().parents[2]


def test_the_tight_verdict_refuses_what_is_not_active_or_not_in_its_dates() -> None:
    assert valid_on("active", "2026-01-01", "2027-01-01", "2026-12-06")
    assert valid_on("active", "2026-01-01", None, "2030-01-01")
    assert not valid_on("revoked", "2026-01-01", "2027-01-01", "2026-12-06")
    assert not valid_on("suspended", None, None, "2026-12-06")
    assert not valid_on("active", "2026-12-07", None, "2026-12-06")
    assert not valid_on("active", "2026-01-01", "2026-12-05", "2026-12-06")


def test_both_sides_run_and_the_figures_end_in_json() -> None:
    args = ["--licences", "12", "--calls", "24", "--rounds", "1,3", "--threads", "1,2"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.tight_verify", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("tight, rounds of 3: ") for line in lines)
    assert any(line.startswith("handler, 2 callers: ") for line in lines)
    figures = json.loads(lines[-1])
    assert set(figures["tight_cpu_us_per_call"]) == {"1", "3"}
    assert set(figures["handler_cpu_us_per_call"]) == {"1", "2"}
    assert figures["handler_calls_per_round"]["1"] == 1.0  # one caller: rounds of one
    assert all(v > 0 for v in figures["tight_cpu_us_per_call"].values())
