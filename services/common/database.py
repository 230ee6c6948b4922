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
import functools
import json
import logging
import operator
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, Table, create_engine, event
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


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows into ``table`` in the caller's transaction: ``COPY`` on PostgreSQL.

    Bulk import writes five rows per licence; a Core ``executemany`` sends one INSERT per row
    and spends more time binding parameters than the database spends storing them, ``COPY``
    streams them all at once (measured: a third of the client CPU, twice the rows per second).
    Every row must have the same keys; Python-side column defaults are not applied. Other
    databases go through :func:`insert_many` (multi-row INSERTs on SQLite; a Core
    ``executemany`` spent as long compiling parameters as SQLite spent storing the rows).
    Driver errors surface as SQLAlchemy's (an :class:`~sqlalchemy.exc.IntegrityError` for a
    duplicate key), as from ``execute``.
    """
    if not rows:
        return
    names = list(rows[0])
    if conn.dialect.name != "postgresql":
        values = operator.itemgetter(*names)
        tuples = [values(r) for r in rows] if len(names) > 1 else [(values(r),) for r in rows]
        dbapi_error = conn.dialect.loaded_dbapi.Error
        try:
            insert_many(conn, table, names, tuples)
        except dbapi_error as exc:
            raise sa_exc.DBAPIError.instance(
                f"INSERT INTO {table.name}", None, exc, dbapi_error
            ) from exc
        return
    _check_deadline()
    quote = conn.dialect.identifier_preparer
    sql = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) FROM STDIN"
    )
    values = operator.itemgetter(*names)
    json_at = [i for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
    import psycopg  # only PostgreSQL deployments need the driver

    driver = conn.connection.driver_connection
    assert driver is not None  # a connection in a transaction is checked out
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                record = list(values(row)) if len(names) > 1 else [values(row)]
                for i in json_at:  # as SQLAlchemy's JSON type binds it
                    record[i] = json.dumps(record[i])
                copy.write_row(record)
    except psycopg.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


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


def _once_per_value(bind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``bind``, converting the same object met again in a row (say, the one instant of a
    whole batch) only once. By identity: equal values may bind differently (time zones)."""
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, bind(value)
        return last[1]

    return convert


#: (dialect, table, columns) -> the INSERT statement and the columns' bind processors: made
#: once, not per group commit (making the processors cost as much as binding the values).
_INSERT_PLANS: dict[tuple[str, str, tuple[str, ...]], tuple[str, dict[int, Any]]] = {}


def _sqlite_instant(value: Any) -> Any:
    # What the sqlite3 module's default adapter makes of a datetime (the same stored text),
    # here so that a batch's one instant is formatted once, not once per row.
    return value.isoformat(" ") if isinstance(value, datetime) else value


def _bind_of(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite":
        # The generic type's processor, then the sqlite3 adapter: what this store has always
        # written (SQLite's own DateTime processor would drop the offset from stored text).
        bind: Callable[[Any], Any] | None = column_type.bind_processor(dialect)
        return _sqlite_instant if bind is None and isinstance(column_type, DateTime) else bind
    # Elsewhere the dialect's own implementation of the type: PostgreSQL's JSON wraps values
    # for psycopg (the generic type's processor leaves a dict the driver cannot adapt).
    impl: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).bind_processor(dialect)
    return impl


def _insert_plan(
    dialect: Any, table: Table, columns: tuple[str, ...]
) -> tuple[str, dict[int, Any]]:
    key = (dialect.name, table.name, columns)
    plan = _INSERT_PLANS.get(key)
    if plan is None:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        processors = {
            i: bind
            for i, name in enumerate(columns)
            if (bind := _bind_of(table.c[name].type, dialect)) is not None
        }
        plan = _INSERT_PLANS[key] = (sql, processors)
    return plan


def insert_many(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    utf8: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (values in ``columns`` order) in the unit of work of ``conn``, through
    its DB-API cursor, values converted by the columns' own types exactly as SQLAlchemy would
    bind them, without its per-statement cost (several times a small insert's own; the group
    commits of receipts and access records run many). On SQLite a few hundred rows go in one
    statement (:func:`_sqlite_insert`); elsewhere one ``executemany``.

    ``utf8``: text columns whose values are given as their UTF-8 bytes (a receipt's body,
    encoded already to be signed; it must be valid UTF-8). SQLite stores them as the same
    text from the bytes themselves (``CAST(? AS TEXT)``), where a ``str`` would be decoded
    here and encoded again by the driver (a batch receipt's body is ~600 KB: ~1 ms a
    message); elsewhere they are decoded here."""
    if not rows:
        return
    names = tuple(columns)
    sql, processors = _insert_plan(conn.dialect, table, names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if isinstance(cursor, sqlite3.Cursor) and (len(rows) > 1 or utf8):
            casts = tuple(sorted(names.index(name) for name in utf8))
            binds = [(i, _once_per_value(bind)) for i, bind in processors.items() if i not in casts]
            # The values in one flat list, each converted column replaced in one slice.
            flat = list(chain.from_iterable(rows))
            for i, bind in binds:
                flat[i :: len(names)] = [bind(value) for value in flat[i :: len(names)]]
            _sqlite_insert(cursor, table.name, names, flat, casts)
            return
        decoded = {names.index(name) for name in utf8}
        binds = [
            (i, _once_per_value(_decoding(processors.get(i)) if i in decoded else processors[i]))
            for i in sorted(processors.keys() | decoded)
        ]
        if binds:
            converted = []
            for row in rows:
                values = list(row)
                for i, bind in binds:
                    values[i] = bind(values[i])
                converted.append(tuple(values))
            rows = converted
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


#: Rows one SQLite INSERT carries (fewer where the connection's variable limit says so).
SQLITE_ROWS_PER_INSERT = 500

#: From this many rows a statement binds a text its rows share once (see :func:`_sqlite_insert`).
SQLITE_SHARED_FROM = 16


def _decoding(bind: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """``bind`` (if any) of a text given as its UTF-8 bytes, decoded first."""

    def convert(value: Any) -> Any:
        text = value.decode() if isinstance(value, bytes) else value
        return text if bind is None else bind(text)

    return convert


def _sqlite_insert(
    cursor: sqlite3.Cursor,
    table: str,
    columns: tuple[str, ...],
    flat: list[Any],
    casts: tuple[int, ...] = (),
) -> None:
    """Rows given as one flat list of values (``columns`` at a time) inserted a few hundred to
    a statement (``INSERT … VALUES (…), (…), …``), in their order. ``executemany`` runs one
    statement a row, and the sqlite3 module lets go of the GIL around each: a writer thread
    beside a busy one then waited for the GIL once a row (up to the switch interval each
    time), where a statement of hundreds waits once.

    Two kinds of column are not bound once a row: one NULL in every row of a statement (an
    access record's staff, mostly) is written as the literal ``NULL`` (the driver binds None
    only after looking for an adapter for it, every time); and, in a statement of at least
    :data:`SQLITE_SHARED_FROM` rows, one holding the same text in every row (a batch's
    department, channel, purpose, case, instant and batch id: six of an access record's ten
    values) is bound once as a numbered parameter (``?1``) every row names. Binding is done
    holding the GIL: a thousand access records' insert measured 1.50 µs a row with every value
    bound, 0.92 with the shared ones bound once.

    ``casts``: the columns of texts given as UTF-8 bytes (:func:`insert_many`'s ``utf8``),
    each bound inside ``CAST(? AS TEXT)``."""
    width = len(columns)
    limit = cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(SQLITE_ROWS_PER_INSERT, limit // width)) * width
    for start in range(0, len(flat), per):
        part = flat[start : start + per]
        count = len(part) // width
        nulls = tuple(i for i in range(width) if part[i::width].count(None) == count)
        shared: tuple[int, ...] = ()
        if count >= SQLITE_SHARED_FROM:
            # Only text: values equal to a text are texts, and bind as that same text. The
            # second and last rows first: most columns that differ do so there, unscanned.
            last = len(part) - width
            shared = tuple(
                i
                for i in range(width)
                if type(part[i]) is str
                and part[i] == part[i + width] == part[last + i]
                and part[i::width].count(part[i]) == count
            )
        once = [part[i] for i in shared]
        dropped = sorted(nulls + shared)
        for i, left in zip(reversed(dropped), range(width, 0, -1), strict=False):
            del part[i::left]  # columns from the last: the earlier ones keep their places
        statement = _sqlite_values(table, columns, count, nulls, shared, casts)
        cursor.execute(statement, once + part)


@functools.lru_cache(maxsize=256)
def _sqlite_values(
    table: str,
    columns: tuple[str, ...],
    count: int,
    nulls: tuple[int, ...] = (),
    shared: tuple[int, ...] = (),
    casts: tuple[int, ...] = (),
) -> str:
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "

    def bound(mark: str, i: int) -> str:
        return f"CAST({mark} AS TEXT)" if i in casts else mark

    if not shared:
        row = f"({', '.join('NULL' if i in nulls else bound('?', i) for i in range(len(columns)))})"
        return head + ", ".join([row] * count)
    # Numbered: the shared values are ?1 … ?k, then each row's own values in order.
    number = len(shared)
    rows = []
    for _ in range(count):
        cells = []
        for i in range(len(columns)):
            if i in nulls:
                cells.append("NULL")
            elif i in shared:
                cells.append(f"?{shared.index(i) + 1}")
            else:
                number += 1
                cells.append(bound(f"?{number}", i))
        rows.append(f"({', '.join(cells)})")
    return head + ", ".join(rows)


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
