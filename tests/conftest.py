"""Shared fixtures: the development PKI, real PostgreSQL, and a served stack per test.

Service tests run on both backends: ``database_url`` is parametrised over SQLite and a real
PostgreSQL server this session starts on a loopback port of its own. Whether PostgreSQL and
Redis are installed is decided in one place (testsupport.availability): without them their
tests are skipped locally, but fail under CI (CI=true), where .ci/run installs them; the run
ends with one line naming what was missing and how to install it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.hot_path import drop_stale

# Before any hot module is imported: compiled modules older than an edited source would test
# the old code; without them the current sources run (pure Python, which behaves the same).
if drop_stale():
    print("tests: compiled hot-path modules were older than their sources: removed (pure Python)")

from services.common.clock import FixedClock
from services.common.database import Database
from services.common.migrate import upgrade
from services.common.pki import DevPki
from testsupport import availability
from testsupport.processes import PostgresServer, RedisServer
from testsupport.stack import Stack, dev_pki, settings_for, start_stack

#: 2026-06-01 10:00 in China: a Monday, a working day.
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
_db_counter = itertools.count()


def pytest_unconfigure(config: pytest.Config) -> None:
    """End the run (after pytest's own counts) with one line naming the servers whose
    absence skipped tests and how to install them."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    line = availability.summary_line(reporter.stats.get("skipped", []))
    if line:
        reporter.write_line(line, yellow=True, bold=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    # Laid out as <var>/pki so the command line can use it with --var-dir.
    return dev_pki(tmp_path_factory.mktemp("var") / "pki")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    availability.require(availability.POSTGRESQL)
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    availability.require(availability.REDIS)
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_template(postgres: PostgresServer) -> str:
    """A database with the schema migrated once; each test copies it."""
    url = postgres.create_database("yihao_template")
    db = Database(url)
    upgrade(db)
    db.dispose()
    return "yihao_template"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'yihao.db'}"
    template = request.getfixturevalue("pg_template")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t{os.getpid()}_{next(_db_counter)}", template=template)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A database at the newest schema, on each backend (a module may define its own)."""
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def stack(database_url: str, pki: DevPki, tmp_path: Path, clock: FixedClock) -> Iterator[Stack]:
    s = start_stack(settings_for(database_url, tmp_path, pki), pki, clock=clock)
    yield s
    s.stop()
