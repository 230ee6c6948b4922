"""Many rows at once in the caller's unit of work: ``COPY`` on PostgreSQL (:func:`insert_rows`),
multi-row INSERTs on SQLite (:func:`insert_many`), values bound as SQLAlchemy would bind them
but without its per-statement cost.

Bulk import, the group commits of receipts and access records, and the log's leaves and
nodes all write through here. Split from :mod:`services.common.database`, which keeps the
engine and the units of work.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Table
from sqlalchemy import exc as sa_exc

from services.common.database import check_deadline


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
    check_deadline()
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
        if isinstance(cursor, sqlite3.Cursor) and (
            _sqlite_few(cursor, table.name, names, rows, utf8, processors)
        ):
            return
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

#: (table, columns, utf8) -> the columns bound as UTF-8 bytes (by index) and the other
#: columns' bind processors: made once (see :func:`_sqlite_few`).
_FEW_PLANS: dict[
    tuple[str, tuple[str, ...], tuple[str, ...]],
    tuple[tuple[int, ...], tuple[tuple[int, Any], ...]],
] = {}


def _sqlite_few(
    cursor: sqlite3.Cursor,
    table: str,
    names: tuple[str, ...],
    rows: Sequence[Sequence[Any]],
    utf8: Sequence[str],
    processors: dict[int, Any],
) -> bool:
    """Fewer rows than :data:`SQLITE_SHARED_FROM` in one plain statement, each value bound
    (NULLs too, no text shared): whether it took them (False: more rows, or more than one
    statement carries; the general path does). Stored values are the same.

    A verification round writes a row or two to each of three tables, and the general path's
    preparation for hundreds (a converter made per column, the NULL and shared columns looked
    for, the values sliced) cost more than the statement: two rows of the log's queue took
    37-47 µs, now 22 µs, the driver's own executemany 9-14 µs (on a slow host)."""
    count, width = len(rows), len(names)
    if (
        count >= SQLITE_SHARED_FROM
        or count > SQLITE_ROWS_PER_INSERT
        or count * width > cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    ):
        return False
    key = (table, names, tuple(utf8))
    plan = _FEW_PLANS.get(key)
    if plan is None:  # processors are the table's own, made once (_insert_plan)
        casts = tuple(sorted(names.index(name) for name in utf8))
        binds = tuple((i, bind) for i, bind in processors.items() if i not in casts)
        plan = _FEW_PLANS[key] = (casts, binds)
    casts, binds = plan
    values = list(chain.from_iterable(rows)) if count > 1 else list(rows[0])
    for i, bind in binds:
        for at in range(i, len(values), width):
            values[at] = bind(values[at])
    cursor.execute(_sqlite_values(table, names, count, (), (), casts), values)
    return True


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
