"""Alembic environment: one schema, every service's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

import services.schema  # noqa: F401  (registers every table on the metadata)
from services.common.database import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    """Run migrations on the caller's connection, or on one made from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
