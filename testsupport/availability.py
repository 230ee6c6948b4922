"""Which database servers (and browser) this machine has, decided in one place for every test.

A test that needs PostgreSQL, Redis or Chromium asks :func:`require`; when it is not installed
the test is skipped locally (so ``make test`` passes on a fresh machine) but fails under CI
(``CI=true``), where ``.ci/run`` installs both. :func:`summary_line` turns the skips back into
one line naming what was missing and how to install it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from testsupport.processes import chromium_bin, postgres_bin, redis_bin


@dataclass(frozen=True)
class ServerKind:
    """A server some tests need: what it is called, how to install it, how to find it."""

    name: str
    install: str
    locate: Callable[[], Path | None]

    @property
    def skip_reason(self) -> str:
        """The reason every test skipped for want of this server carries."""
        return f"{self.name} is not installed ({self.install})"


POSTGRESQL = ServerKind("PostgreSQL", "apt-get install postgresql", postgres_bin)
REDIS = ServerKind("redis-server", "apt-get install redis-server", redis_bin)
CHROMIUM = ServerKind("Chromium", "apt-get install chromium fonts-noto-cjk", chromium_bin)
KINDS = (POSTGRESQL, REDIS, CHROMIUM)


def under_ci() -> bool:
    """True when the run is CI's (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def require(kind: ServerKind) -> Path:
    """The server's binary (or binary directory); skips the test when it is not installed,
    or fails it under CI."""
    found = kind.locate()
    if found is not None:
        return found
    if under_ci():
        pytest.fail(f"{kind.skip_reason}; .ci/run must install it", pytrace=False)
    pytest.skip(kind.skip_reason)


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def summary_line(skipped: Iterable[pytest.TestReport]) -> str | None:
    """One line naming the servers whose absence skipped tests, and how many were skipped;
    None when nothing was skipped for a missing server."""
    counts = {kind.name: 0 for kind in KINDS}
    for report in skipped:
        reason = _reason(report)
        for kind in KINDS:
            if kind.skip_reason in reason:
                counts[kind.name] += 1
    missing = [kind for kind in KINDS if counts[kind.name]]
    if not missing:
        return None
    names = ", ".join(f"{kind.name} ({kind.install})" for kind in missing)
    total = sum(counts.values())
    return f"missing: {names} — {total} tests skipped"
