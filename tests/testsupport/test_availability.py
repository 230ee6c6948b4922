"""One decision on missing servers: skip locally, fail under CI, one summary line."""

from __future__ import annotations

from pathlib import Path

import pytest

from testsupport import availability


@pytest.fixture
def bare_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PATH with nothing on it and a PostgreSQL directory that does not exist."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("YIHAO_PG_BIN", str(tmp_path / "nowhere"))


@pytest.mark.parametrize("kind", availability.KINDS, ids=lambda k: k.name)
def test_a_missing_server_skips_locally(bare_machine, monkeypatch, kind) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install"):
        availability.require(kind)


@pytest.mark.parametrize("kind", availability.KINDS, ids=lambda k: k.name)
def test_a_missing_server_fails_under_ci(bare_machine, monkeypatch, kind) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"\.ci/run must install it"):
        availability.require(kind)


def test_a_server_on_path_is_found(monkeypatch, tmp_path: Path) -> None:
    binary = tmp_path / "redis-server"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert availability.require(availability.REDIS) == binary


class _Report:
    def __init__(self, reason: str) -> None:
        self.longrepr = ("tests/x.py", 1, f"Skipped: {reason}")


def test_summary_names_each_missing_server_and_counts_its_skips() -> None:
    reports = [
        _Report(availability.REDIS.skip_reason),
        _Report(availability.POSTGRESQL.skip_reason),
        _Report(availability.POSTGRESQL.skip_reason),
        _Report("something else"),
    ]
    line = availability.summary_line(reports)  # type: ignore[arg-type]
    assert line == (
        "missing: PostgreSQL (apt-get install postgresql), "
        "redis-server (apt-get install redis-server) — 3 tests skipped"
    )
    assert availability.summary_line([_Report("something else")]) is None  # type: ignore[list-item]
