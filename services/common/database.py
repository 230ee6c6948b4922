"""Database engine and units of work (SQLAlchemy 2.x Core).

One :class:`Database` per process. A unit of work is one transaction on one connection,
opened per RPC and passed down to repositories, which never commit. Repositories use Core
statements: on this machine an ORM session per lookup costs several times the query itself.

SQLite (the embedded default) runs in WAL mode; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the busy timeout instead of failing with
"database is locked" half-way through. Driver failures that mean "the database is not
reachable or cannot write right now" become :class:`~services.common.errors.Unavailable`.
"""

from __future__ import annotations

import contextvars
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from services.common.errors import DeadlineExceeded, Unavailable, YihaoError
from services.common.metrics import WalState
from services.common.sqlite_wal import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_TRUNCATE_WAIT_MS,
    SQLITE_WAL_LIMIT_BYTES,
    Checkpointer,
    FairLock,
)

if TYPE_CHECKING:
    from services.common.config import Settings

log = logging.getLogger(__name__)

#: The one schema. Each service defines its own tables on it (and only writes those).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Each SQLite connection's page cache (SQLite's own default is 2 MB). A bulk import into a
#: store of millions of licences touches index pages all over the file: with 2 MB the writer
#: re-read them with a pread each and spilled dirty pages to the WAL mid-transaction.
SQLITE_CACHE_MB = 64

#: When the current call must be answered by (time.monotonic()), set per RPC by the deadline
#: interceptor. Work stops at its next statement once it has passed, so a slow database
#: cannot pile up handler threads working for callers that have already given up.
call_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "yihao_call_deadline", default=None
)


def remaining_seconds() -> float | None:
    """Time left for the current call (None outside a call or without a deadline)."""
    deadline = call_deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _check_deadline(*_args: Any) -> None:
    check_deadline()


def check_deadline() -> None:
    """Raise DEADLINE_EXCEEDED if the current call's deadline has passed (before a statement
    run on the raw driver, which the engine's hook does not see)."""
    left = remaining_seconds()
    if left is not None and left <= 0:
        raise DeadlineExceeded("the caller's deadline passed", reason="DEADLINE_PASSED")


def _sqlite_file(url: str) -> str | None:
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def _sqlite_engine(
    url: str, *, background_checkpoint: bool = False, cache_mb: int = SQLITE_CACHE_MB
) -> Engine:
    database = _sqlite_file(url)
    if database:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=32,
        max_overflow=64,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")  # in KiB when negative
        # Statement journals in memory, not temporary files: an INSERT whose triggers write
        # (licence_changes) keeps one to undo itself alone, and writing it to a file cost a
        # bulk import ~35 µs a licence in the kernel (measured; perf showed ext4 writes).
        cursor.execute("PRAGMA temp_store=MEMORY")
        if background_checkpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # see _Checkpointer
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver: SQLAlchemy's statement machinery cost more than the BEGIN itself.
        immediate = conn.get_execution_options().get("yihao_write", False)
        _check_deadline()
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except sqlite3.Error as exc:  # as from exec_driver_sql: SQLAlchemy's own error
            raise sa_exc.DBAPIError.instance("BEGIN", None, exc, sqlite3.Error) from exc

    event.listen(engine, "before_cursor_execute", _check_deadline)
    return engine


def _postgres_engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )

    @event.listens_for(engine, "begin")
    def _statement_timeout(conn: Connection) -> None:
        # The server stops a statement the caller will not wait for.
        left = remaining_seconds()
        if left is not None:
            ms = min(max(int(left * 1000), 1), 2_147_483_647)
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")

    event.listen(engine, "before_cursor_execute", _check_deadline)
    return engine


def create_db_engine(
    url: str,
    pool_size: int = 10,
    *,
    background_checkpoint: bool = False,
    sqlite_cache_mb: int = SQLITE_CACHE_MB,
) -> Engine:
    """An engine for ``url``: SQLite (WAL, immediate write transactions) or PostgreSQL.

    ``background_checkpoint``: the SQLite connections leave WAL checkpoints to a
    :class:`_Checkpointer` (the caller runs one). ``sqlite_cache_mb``: each SQLite
    connection's page cache.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(
            url, background_checkpoint=background_checkpoint, cache_mb=sqlite_cache_mb
        )
    return _postgres_engine(url, pool_size)


def driver_first(conn: Connection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """The first row of a query run on the driver's cursor in the caller's unit of work (a
    plain tuple, or None): for the group commit's per-round reads, where SQLAlchemy's result
    machinery cost four times the query (~27 against ~6 µs on SQLite). Driver errors surface
    as SQLAlchemy's, as from ``exec_driver_sql``."""
    check_deadline()
    dbapi_error = conn.dialect.loaded_dbapi.Error
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params))
        row = cursor.fetchone()
    except dbapi_error as exc:
        raise sa_exc.DBAPIError.instance(sql, params, exc, dbapi_error) from exc
    finally:
        cursor.close()
    return None if row is None else tuple(row)


_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


@contextmanager
def duplicates_raise(error: Callable[[], YihaoError]) -> Iterator[None]:
    """Around a repository's insert: a row whose unique key is taken (the database's
    integrity error, perhaps from a concurrent writer) becomes ``error()``, the domain's
    AlreadyExists or Conflict. Repositories translate here, once; services never see SQL's
    errors. The transaction is then spoilt: let the error leave it."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        raise error() from exc


class Database:
    """The process's database: an engine and units of work on it."""

    def __init__(
        self, url: str, pool_size: int = 10, *, sqlite_cache_mb: int = SQLITE_CACHE_MB
    ) -> None:
        self.url = url
        path = _sqlite_file(url) if url.startswith("sqlite") else None
        self.engine = create_db_engine(
            url,
            pool_size,
            background_checkpoint=path is not None,
            sqlite_cache_mb=sqlite_cache_mb,
        )
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = self.engine.dialect.name == "postgresql"
        # SQLite has one writer at a time: this process's writers queue here in turn, rather
        # than in SQLite's busy handler, which polls and lets the quickest starve the others.
        self._writers = FairLock() if self.is_sqlite else None
        self._checkpointer = (
            Checkpointer(
                path,
                limit=SQLITE_WAL_LIMIT_BYTES,
                wait_ms=SQLITE_TRUNCATE_WAIT_MS,
                writers=self._writers,
            )
            if path
            else None
        )
        self._write_conn: Connection | None = None
        self._write_conn_stale = False
        if self._writers is not None:
            event.listen(self.engine, "engine_disposed", self._forget_writer)

    def _forget_writer(self, _engine: Engine) -> None:
        # engine.dispose() asks for fresh connections: the kept one too, at its next use
        # (under the write turn: nobody is using it then).
        self._write_conn_stale = True

    @classmethod
    def for_settings(cls, settings: Settings) -> Database:
        """The database ``settings`` name, with their pool and cache sizes."""
        return cls(
            settings.database_url,
            settings.db_pool_size,
            sqlite_cache_mb=settings.sqlite_cache_mb,
        )

    def wal_state(self) -> WalState | None:
        """SQLite's WAL as the checkpointer last saw it (None: not SQLite, or an in-memory
        database)."""
        c = self._checkpointer
        return None if c is None else WalState(frames=c.frames, truncations=c.truncations)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """One unit of work: commits on success, rolls back on any exception."""
        queued = write and self._writers is not None
        if queued:
            self._take_write_turn()
        try:
            if write and self._checkpointer is not None:
                self._checkpointer.writer_turn()
            if queued:
                with self._writer() as conn, conn.begin():
                    yield conn
            else:
                with self.engine.connect() as conn:
                    if write:
                        conn = conn.execution_options(yihao_write=True)
                    with conn.begin():
                        yield conn
        except _UNAVAILABLE as exc:
            log.warning(
                "database unavailable: %s", type(getattr(exc, "orig", None) or exc).__name__
            )
            raise Unavailable(
                "the database is unavailable or cannot write right now; retry later",
                reason="DATABASE_UNAVAILABLE",
            ) from exc
        finally:
            if queued:
                assert self._writers is not None
                self._writers.release()

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        """(Holding the write turn.) This process's one SQLite write connection, kept open: its
        page cache stays valid from one write to the next unless another process wrote in
        between (SQLite empties a connection's cache whenever the database changed under it,
        so a pooled connection re-read every page a commit touches). Dropped after an error
        and replaced after ``engine.dispose()``."""
        conn = self._write_conn
        if conn is not None and self._write_conn_stale:
            conn.close()
            conn = None
        self._write_conn_stale = False
        if conn is None:
            conn = self.engine.connect().execution_options(yihao_write=True)
        self._write_conn = None
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        self._write_conn = conn

    def _take_write_turn(self) -> None:
        assert self._writers is not None
        busy = SQLITE_BUSY_TIMEOUT_MS / 1000
        left = remaining_seconds()
        if left is not None and left < busy:  # the caller's deadline comes first
            if not self._writers.acquire(max(0.0, left)):
                raise DeadlineExceeded(
                    "the caller's deadline passed while waiting to write", reason="DEADLINE_PASSED"
                )
        elif not self._writers.acquire(busy):
            log.warning("database unavailable: the write lock was busy for %.0f s", busy)
            raise Unavailable(
                "the database is unavailable or cannot write right now; retry later",
                reason="DATABASE_UNAVAILABLE",
            )

    def read(self) -> Any:
        """A read-only unit of work (no write lock taken on SQLite)."""
        return self.transaction(write=False)

    @contextmanager
    def driver_reads(self) -> Iterator[Any]:
        """A pooled connection's own DB-API connection, outside any transaction: for the hot
        path's single-statement reads (each statement reads one consistent snapshot), which
        SQLAlchemy's begin/commit round trips would cost several times over."""
        dbapi = self.engine.dialect.loaded_dbapi
        try:
            pooled = self.engine.raw_connection()  # no Connection object: half the checkout
            try:
                yield pooled.driver_connection
            finally:
                pooled.close()  # back to the pool (reset there, as engine.connect's would be)
        except (dbapi.OperationalError, dbapi.InterfaceError, *_UNAVAILABLE) as exc:
            log.warning("database unavailable: %s", type(exc).__name__)
            raise Unavailable(
                "the database is unavailable right now; retry later",
                reason="DATABASE_UNAVAILABLE",
            ) from exc

    def dispose(self) -> None:
        """Close every pooled connection (and stop checkpointing in the background)."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        self.engine.dispose()
