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


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision``."""
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
