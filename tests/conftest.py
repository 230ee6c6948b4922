"""Shared fixtures: the development PKI, real PostgreSQL, and a served stack per test.

Service tests run on both backends: ``database_url`` is parametrised over SQLite and a real
PostgreSQL server this session starts on a loopback port of its own. Without PostgreSQL
binaries the PostgreSQL half is skipped locally, but fails under CI (CI=true), where
.ci/run installs them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.common.clock import FixedClock
from services.common.database import Database
from services.common.migrate import upgrade
from services.common.pki import DevPki
from testsupport.processes import PostgresServer, RedisServer, postgres_bin, redis_bin
from testsupport.stack import Stack, dev_pki, settings_for, start_stack

#: 2026-06-01 10:00 in China: a Monday, a working day.
T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
_db_counter = itertools.count()


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed; .ci/run must install it", pytrace=False)
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    # Laid out as <var>/pki so the command line can use it with --var-dir.
    return dev_pki(tmp_path_factory.mktemp("var") / "pki")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bin() is None:
        _missing("PostgreSQL")
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if redis_bin() is None:
        _missing("Redis")
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
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def stack(database_url: str, pki: DevPki, tmp_path: Path, clock: FixedClock) -> Iterator[Stack]:
    s = start_stack(settings_for(database_url, tmp_path, pki), pki, clock=clock)
    yield s
    s.stop()
