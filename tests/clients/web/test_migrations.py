"""The desk database's schema comes from its own migrations, on SQLite and PostgreSQL, and a
database made before they existed is taken over."""

from __future__ import annotations

import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from clients.web.db import METADATA, MIGRATIONS, VERSION_TABLE, open_database


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, (
        f"the desk's migrations have {len(heads)} heads: rebase one onto the other"
    )
    return heads[0]


def _differences(engine) -> list:
    with engine.connect() as conn:
        opts = {"compare_type": True, "version_table": VERSION_TABLE}
        context = MigrationContext.configure(conn, opts=opts)
        return compare_metadata(context, METADATA)


def _check(url: str) -> None:
    engine = open_database(url)
    assert _differences(engine) == [], (
        "the desk's tables (clients/web/db.py) and its migrations disagree: a new or changed "
        "table needs a migration in clients/web/migrations/versions/"
    )
    with engine.connect() as conn:
        version = conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
        assert "alembic_version" not in inspect(conn).get_table_names()
    assert version == _head()
    open_database(url).dispose()  # again: nothing to do
    engine.dispose()


def test_the_migrations_make_exactly_the_tables_the_code_uses(tmp_path) -> None:
    _check(f"sqlite:///{tmp_path / 'web.db'}")


@pytest.mark.postgres
def test_the_same_on_postgresql(postgres) -> None:
    _check(postgres.create_database(f"webmig_{os.getpid()}"))


def test_a_database_made_before_migrations_is_taken_over(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    METADATA.create_all(old)  # as the first desk made it
    with old.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO web_accounts VALUES ('kept', 'K', '11350100786579754C', 'handler', "
            "'$argon2id$x', 0, 0)"
        )
    old.dispose()
    engine = open_database(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT account_id FROM web_accounts").scalar() == "kept"
        assert conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    engine.dispose()
