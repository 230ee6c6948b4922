"""The desk's own database (SQLAlchemy Core): accounts, staff and holder sessions, sign-ins.

It is not the services' database: the desk is a client of the services and keeps only what a
web front needs. SQLite under ``<var>/web.db`` by default (``YIHAO_WEB_DATABASE_URL`` for
PostgreSQL when several desk processes share sessions). Its schema is brought up to date by
the desk's own Alembic migrations (``clients/web/migrations``, version table
``web_alembic_version``) whenever it is opened; a change to these tables is a new migration
there, working on SQLite and PostgreSQL from a database made before it.

Timestamps are seconds since the epoch (floats): the desk compares them with its clock only.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import Connection, make_url

__all__ = [
    "ACCOUNTS",
    "BULK_JOBS",
    "BULK_RESULTS",
    "HOLDER_SESSIONS",
    "METADATA",
    "ONCE",
    "SESSIONS",
    "SIGN_INS",
    "VERSION_TABLE",
    "open_database",
]

METADATA = MetaData()
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The desk's own Alembic version table (not the services' ``alembic_version``).
VERSION_TABLE = "web_alembic_version"
#: The revision whose tables the first desks (before migrations) created directly.
_FIRST = "w0001"

#: Staff accounts: who may sign in, for which department, in which roles.
ACCOUNTS = Table(
    "web_accounts",
    METADATA,
    Column("account_id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("department", String(18), nullable=False),
    Column("roles", String(200), nullable=False),  # comma-separated, sorted
    Column("password_hash", String(200), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

#: Server-side sessions; the cookie holds the id, the table only its SHA-256.
SESSIONS = Table(
    "web_sessions",
    METADATA,
    Column("session_hash", String(64), primary_key=True),
    Column("account_id", String(64), nullable=True),  # None: before sign-in (CSRF only)
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
)
Index("ix_web_sessions_created", SESSIONS.c.created_at)

#: Holder sessions (:mod:`clients.web.holder_sessions`): like staff sessions, plus the
#: holder's ID number sealed with a key only the holder's cookie gives (never in clear).
HOLDER_SESSIONS = Table(
    "web_holder_sessions",
    METADATA,
    Column("session_hash", String(64), primary_key=True),
    Column("holder_sealed", Text, nullable=True),  # None: before sign-in (CSRF only)
    Column("via", String(16), nullable=False),  # assertion | dev | "" before sign-in
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen_at", Float, nullable=False),
)
Index("ix_web_holder_sessions_created", HOLDER_SESSIONS.c.created_at)

#: Every sign-in, failed sign-in, lock, refusal and sign-out.
SIGN_INS = Table(
    "web_sign_ins",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("account_id", String(64), nullable=True),  # as typed, when it could be an id
    Column("client_address", String(64), nullable=True),
)
Index("ix_web_sign_ins_account", SIGN_INS.c.account_id, SIGN_INS.c.at)
Index("ix_web_sign_ins_address", SIGN_INS.c.client_address, SIGN_INS.c.at)

#: Form keys already acted on, with the first act's outcome (sent twice, acts once:
#: :mod:`clients.web.once`); ``outcome`` is None while the act is running.
ONCE = Table(
    "web_once",
    METADATA,
    Column("form_key", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("outcome", Text, nullable=True),
)
Index("ix_web_once_at", ONCE.c.at)

#: The operator desk's bulk imports (:mod:`clients.web.bulk_jobs`): one row per uploaded file.
BULK_JOBS = Table(
    "web_bulk_jobs",
    METADATA,
    Column("job_id", String(32), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("department", String(18), nullable=False),
    Column("file_name", String(200), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("total", Integer, nullable=False),  # records in the file (non-blank lines)
    Column("done", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("duplicate", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
)
Index("ix_web_bulk_jobs_department", BULK_JOBS.c.department, BULK_JOBS.c.created_at)

#: Each line's outcome in a bulk import (the downloadable report); nothing personal.
BULK_RESULTS = Table(
    "web_bulk_results",
    METADATA,
    Column("job_id", String(32), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("outcome", String(16), nullable=False),  # accepted | duplicate | rejected
    Column("licence_id", String(200), nullable=False),
    Column("reason_code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_database(url: str) -> Engine:
    """An engine on ``url`` with the desk's tables created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    with engine.begin() as conn:
        upgrade(conn)
    return engine


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Bring the desk's schema on ``conn`` up to ``revision``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    tables = set(inspect(conn).get_table_names())
    if "web_accounts" in tables and VERSION_TABLE not in tables:
        command.stamp(config, _FIRST)  # made by the first desk, before it had migrations
    command.upgrade(config, revision)
