"""Alembic environment of the desk's own database (staff accounts, sessions, sign-in records).

Its version table is ``web_alembic_version``, so the desk's tables may share a PostgreSQL
database with the services' without the two histories meeting.
"""

from __future__ import annotations

from alembic import context

from clients.web.db import METADATA, VERSION_TABLE

config = context.config


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=METADATA,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_migrate(config.attributes["connection"])
