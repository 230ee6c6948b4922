"""insert_rows: COPY on PostgreSQL, a DB-API executemany elsewhere, the same results and errors.

Every value type the licence store writes in bulk goes through it (text, integers, NULL,
bytes, JSON, dates, instants with a time zone), and a duplicate key is an IntegrityError that
rolls the whole unit of work back, as it is with ``conn.execute(insert(...))``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime

import psycopg
import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy import exc as sa_exc

from services.common.bulk_insert import _sqlite_values, insert_many, insert_rows
from services.common.database import Database

meta = MetaData()
things = Table(
    "bulk_things",
    meta,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("count", Integer, nullable=True),
    Column("blob", LargeBinary, nullable=True),
    Column("data", JSON, nullable=False),
    Column("day", Date, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)

AT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
ROWS = [
    {
        "name": "plain",
        "count": 1,
        "blob": b"\x00\x01\\\ttab\nline",
        "data": {"a": 1, "b": [True, None]},
        "day": date(2026, 3, 1),
        "at": AT,
    },
    {
        "name": "福州 with\ttab, comma, \\ backslash",
        "count": None,
        "blob": None,
        "data": {"经营范围": "软件开发；信息技术咨询服务\n第二行"},
        "day": None,
        "at": AT,
    },
]


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    meta.create_all(database.engine)
    yield database
    database.dispose()


def test_rows_read_back_exactly_as_written(db):
    with db.transaction() as conn:
        insert_rows(conn, things, ROWS)
        insert_rows(conn, things, [])  # nothing to write: no statement, no error
    with db.read() as conn:
        stored = conn.execute(select(things).order_by(things.c.seq)).mappings().all()
    assert [r["seq"] for r in stored] == [1, 2]  # autoincrement columns left to the database
    for row, want in zip(stored, ROWS, strict=True):
        assert row["name"] == want["name"]
        assert row["count"] == want["count"]
        assert (bytes(row["blob"]) if row["blob"] is not None else None) == want["blob"]
        assert row["data"] == want["data"]
        assert row["day"] == want["day"]
        assert row["at"].replace(tzinfo=row["at"].tzinfo or UTC) == AT


def test_a_duplicate_key_is_an_integrity_error_and_nothing_of_the_unit_stays(db):
    with db.transaction() as conn:
        insert_rows(conn, things, ROWS[:1])
    with pytest.raises(sa_exc.IntegrityError), db.transaction() as conn:
        insert_rows(conn, things, [{**ROWS[1], "name": "fresh"}])
        insert_rows(conn, things, ROWS[:1])
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(things)).scalar() == 1


def test_insert_many_stores_an_instant_as_the_driver_would(db):
    """insert_many formats a batch's instant once itself on SQLite (the driver's adapter
    would format it per row): the stored text must be the adapter's, byte for byte. On
    PostgreSQL psycopg binds the instant itself: it must read back as the same instant."""
    rows = [(f"many-{i}", {"i": i}, AT) for i in range(3)]
    with db.transaction() as conn:
        insert_many(conn, things, ("name", "data", "at"), rows)
    with db.read() as conn:
        back = conn.execute(select(things.c.at).order_by(things.c.seq)).scalars().all()
        if db.engine.dialect.name == "sqlite":
            stored = conn.exec_driver_sql("SELECT at FROM bulk_things ORDER BY seq")
            adapted = sqlite3.connect(":memory:").execute("SELECT ?", (AT,)).fetchone()[0]
            assert stored.scalars().all() == [adapted] * 3 == [AT.isoformat(" ")] * 3
    assert [a.replace(tzinfo=a.tzinfo or UTC) for a in back] == [AT] * 3


@pytest.mark.parametrize("per_statement", [2, 500])
def test_insert_many_keeps_the_rows_order_across_statements(db, monkeypatch, per_statement):
    """On SQLite insert_many writes a few hundred rows a statement: the rows land in the order
    given (a batch's access records are digested in id order), the last statement carrying
    the remainder, whatever the split."""
    monkeypatch.setattr("services.common.bulk_insert.SQLITE_ROWS_PER_INSERT", per_statement)
    rows = [(f"order-{i:03d}", i, {"i": i}, AT) for i in range(7)]
    with db.transaction() as conn:
        insert_many(conn, things, ("name", "count", "data", "at"), rows)
    with db.read() as conn:
        back = conn.execute(
            select(things.c.seq, things.c.name, things.c.count, things.c.data).order_by(
                things.c.seq
            )
        ).all()
    assert [(r.name, r.count, r.data) for r in back] == [(n, c, d) for n, c, d, _ in rows]
    assert [r.seq for r in back] == list(range(1, 8))


def test_insert_many_stays_within_the_connections_variable_limit(db):
    """A SQLite built with a low limit on a statement's parameters gets smaller statements:
    four columns under a limit of 9 is two rows a statement, and every row still lands."""
    rows = [(f"limited-{i}", i, {"i": i}, AT) for i in range(5)]
    with db.transaction() as conn:
        driver = conn.connection.driver_connection
        if isinstance(driver, sqlite3.Connection):
            before = driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 9)
        try:
            insert_many(conn, things, ("name", "count", "data", "at"), rows)
        finally:
            if isinstance(driver, sqlite3.Connection):
                driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    with db.read() as conn:
        names = conn.execute(select(things.c.name).order_by(things.c.seq)).scalars().all()
    assert names == [r[0] for r in rows]


def test_a_duplicate_in_a_later_statement_leaves_nothing_of_the_unit(db, monkeypatch):
    """Rows split over several statements are still one unit of work: a duplicate key met in
    the last statement undoes the statements before it (insert_many raises the driver's own
    error; the caller's unit of work rolls back)."""
    monkeypatch.setattr("services.common.bulk_insert.SQLITE_ROWS_PER_INSERT", 2)
    rows = [(f"dup-{i}", i, {"i": i}, AT) for i in range(4)] + [("dup-0", 9, {}, AT)]
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)), db.transaction() as conn:
        insert_many(conn, things, ("name", "count", "data", "at"), rows)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(things)).scalar() == 0


def _written_and_read_back(db, rows):
    """``rows`` (name, count, blob, data, day, at) through insert_many, then read back in
    order (all but the instant)."""
    with db.transaction() as conn:
        insert_many(conn, things, ("name", "count", "blob", "data", "day", "at"), rows)
    with db.read() as conn:
        back = conn.execute(
            select(
                things.c.name, things.c.count, things.c.blob, things.c.data, things.c.day
            ).order_by(things.c.seq)
        ).all()
    return [tuple(r) for r in back]


@pytest.mark.parametrize("per_statement", [2, 500])
def test_insert_many_writes_columns_null_in_every_row_as_null(db, monkeypatch, per_statement):
    """On SQLite a column NULL in every row of a statement is written as the literal NULL
    (not bound): whichever columns those are, in whichever statements, every row reads back
    as given, in order."""
    monkeypatch.setattr("services.common.bulk_insert.SQLITE_ROWS_PER_INSERT", per_statement)
    rows = [
        ("n-0", None, None, {"i": 0}, None, AT),
        ("n-1", None, None, {"i": 1}, None, AT),  # with n-0: count, blob and day all NULL
        ("n-2", 2, None, {"i": 2}, date(2026, 3, 2), AT),
        ("n-3", None, b"\x00", {"i": 3}, None, AT),
        ("n-4", None, None, {"i": 4}, None, AT),
    ]
    assert _written_and_read_back(db, rows) == [r[:5] for r in rows]


@pytest.mark.parametrize("per_statement", [3, 500])
def test_insert_many_binds_a_text_every_row_shares_once(db, monkeypatch, per_statement):
    """On SQLite a text the same in every row of a statement is bound once (numbered
    parameters): whichever columns share one in whichever statement — none, some, the
    instant once formatted — every row reads back as given, in order."""
    monkeypatch.setattr("services.common.bulk_insert.SQLITE_ROWS_PER_INSERT", per_statement)
    monkeypatch.setattr("services.common.bulk_insert.SQLITE_SHARED_FROM", 2)
    rows = [
        (f"s-{i}", 7, None, {"k": "同"}, date(2026, 3, 2) if i < 4 else None, AT) for i in range(7)
    ]
    rows[5] = ("s-5", 7, b"\x01", {"k": "异"}, None, AT)  # the last statement's shares differ
    assert _written_and_read_back(db, rows) == [r[:5] for r in rows]
    if db.engine.dialect.name == "sqlite":
        with db.read() as conn:
            stored = conn.exec_driver_sql("SELECT at FROM bulk_things ORDER BY seq")
            assert stored.scalars().all() == [AT.isoformat(" ")] * 7


def test_a_statement_names_the_shared_texts_by_number():
    """The SQL of a statement with shared texts: they are ?1 … ?k, each row's own values
    numbered after them in order, NULL columns literal."""
    sql = _sqlite_values("t", ("a", "b", "c", "d"), 2, (2,), (1, 3))
    assert sql == "INSERT INTO t (a, b, c, d) VALUES (?3, ?1, NULL, ?2), (?4, ?1, NULL, ?2)"
    assert (
        _sqlite_values("t", ("a", "b"), 2, (1,))
        == "INSERT INTO t (a, b) VALUES (?, NULL), (?, NULL)"
    )


@pytest.mark.parametrize("count", [1, 3])
def test_a_text_given_as_its_utf8_bytes_is_stored_as_text(db, count):
    """A text column named in ``utf8`` takes its values as UTF-8 bytes (a receipt's body,
    encoded already to be signed): it reads back as the same text, and on SQLite is stored as
    text, not as a blob (which a reader through the column's type would get as bytes), one
    row or many, beside a NULL column and a shared text."""
    rows = [(f"福州-{i}-示例".encode(), None, {"k": "同"}, AT) for i in range(count)]
    with db.transaction() as conn:
        insert_many(conn, things, ("name", "count", "data", "at"), rows, utf8=("name",))
    with db.read() as conn:
        names = conn.execute(select(things.c.name).order_by(things.c.seq)).scalars().all()
        if db.engine.dialect.name == "sqlite":
            kinds = conn.exec_driver_sql("SELECT typeof(name) FROM bulk_things").scalars().all()
            assert kinds == ["text"] * count
    assert names == [f"福州-{i}-示例" for i in range(count)]


def test_a_statement_casts_the_texts_given_as_bytes():
    """The SQL of a statement with texts given as UTF-8 bytes: each such value is bound
    inside CAST(… AS TEXT), numbered or not."""
    assert (
        _sqlite_values("t", ("a", "b"), 2, (), (), (0,))
        == "INSERT INTO t (a, b) VALUES (CAST(? AS TEXT), ?), (CAST(? AS TEXT), ?)"
    )
    assert (
        _sqlite_values("t", ("a", "b", "c"), 2, (), (1,), (2,))
        == "INSERT INTO t (a, b, c) VALUES (?2, ?1, CAST(?3 AS TEXT)), (?4, ?1, CAST(?5 AS TEXT))"
    )


@pytest.mark.parametrize("count", [1, 2, 5])
def test_a_few_rows_are_stored_as_the_general_path_stores_them(tmp_path, monkeypatch, count):
    """A few rows (a verification round's) go in one plain statement on SQLite (only there),
    each value bound; the same rows through the general path (NULL literals, shared texts,
    converters per column) must be stored identically: each column's type and value as
    SQLite holds them."""
    db = Database(f"sqlite:///{tmp_path / 'few.db'}")
    meta.create_all(db.engine)
    names = ("name", "count", "blob", "data", "day", "at")

    def rows(prefix: str) -> list[tuple[object, ...]]:
        return [
            (f"{prefix}-{i}-福州".encode(), None, b"\x00" if i else None, {"k": "同"}, None, AT)
            for i in range(count)
        ]

    with db.transaction() as conn:
        insert_many(conn, things, names, rows("few"), utf8=("name",))
    monkeypatch.setattr("services.common.bulk_insert._sqlite_few", lambda *_: False)
    with db.transaction() as conn:
        insert_many(conn, things, names, rows("all"), utf8=("name",))
    stored = ", ".join(f"typeof({n}), quote({n})" for n in names[1:])
    with db.read() as conn:
        back = conn.exec_driver_sql(
            f"SELECT substr(name, 1, 3), typeof(name), {stored} FROM bulk_things ORDER BY seq"
        ).all()
    db.dispose()
    few = [tuple(r[1:]) for r in back if r[0] == "few"]
    general = [tuple(r[1:]) for r in back if r[0] == "all"]
    assert len(few) == count and few == general
