"""Schema migrations (Alembic), run the same way on SQLite and PostgreSQL.

``yihao db upgrade`` and the server's start-up call :func:`upgrade`; tests build their
databases through it too, so the migrations are what every test runs on.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from services.common.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head", vault: object | None = None) -> None:
    """Bring the schema up to ``revision``; ``vault`` (the holder vault) lets migrations that
    encrypt existing data do so."""
    cfg = alembic_config(db.url)
    cfg.attributes["vault"] = vault
    cfg.attributes["sealer"] = getattr(vault, "sealer", None)  # for keys' private halves
    with db.engine.connect() as conn:
        if db.is_sqlite:
            # SQLite alters a table by copying it; foreign keys must be off meanwhile, and the
            # pragma only takes effect outside a transaction (so straight on the driver).
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        finally:
            if db.is_sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
