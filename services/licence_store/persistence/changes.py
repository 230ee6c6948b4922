"""``licence_changes`` (SQLite): which licences changed, in commit order.

Triggers on the three tables a verification reads — ``licences``, ``licence_versions``,
``licence_statements`` — note the serial of every row inserted, updated or deleted, whoever
writes it (this service, another worker process, or the ``sqlite3`` shell: a trigger fires for
any writer). ``seq`` is the rowid, one more than the largest: SQLite has one writer at a time
and a rolled-back insert leaves no row, so the numbers are consecutive in commit order, and a
gap means rows were deleted (the triggers keep the newest :data:`KEEP` and delete older
ones). (Not AUTOINCREMENT: its bookkeeping cost each licence written ~12 µs more; a deleted
newest row lets its number be given again, which a reader tells by the serial it saw there.)
A reader that remembers current rows (``services.licence_store.current_rows``) asks for the
changes from the last one it saw: it finds that one again, then the serials to forget, or a
gap, another change under that number, or nothing at all, and forgets everything.

PostgreSQL commits transactions in another order than it hands out sequence numbers, so
there is no such table there, and its readers read every row.
"""

from __future__ import annotations

from typing import Any

TABLE = "licence_changes"
#: The newest changes kept; a reader further behind than this forgets all it remembers.
KEEP = 10_000
#: The tables whose rows a verification reads, each by its ``serial`` column.
WATCHED = ("licences", "licence_versions", "licence_statements")
_EVENTS = ("insert", "update", "delete")
TRIGGERS = tuple(f"{TABLE}_{table}_{event}" for table in WATCHED for event in _EVENTS)

_PRUNE = f"DELETE FROM {TABLE} WHERE seq <= last_insert_rowid() - {KEEP};"
_NOTE = {
    "insert": f"INSERT INTO {TABLE} (serial) VALUES (NEW.serial);",
    "update": f"INSERT INTO {TABLE} (serial) VALUES (NEW.serial); "
    f"INSERT INTO {TABLE} (serial) SELECT OLD.serial WHERE OLD.serial IS NOT NEW.serial;",
    "delete": f"INSERT INTO {TABLE} (serial) VALUES (OLD.serial);",
}


def create_statements() -> list[str]:
    """The table and its triggers (migration 0026)."""
    return [
        f"CREATE TABLE {TABLE} (seq INTEGER PRIMARY KEY, serial TEXT NOT NULL)",
        # Never empty (the triggers keep the newest): a reader always finds where it starts.
        f"INSERT INTO {TABLE} (serial) VALUES ('')",
        *(
            f"CREATE TRIGGER {TABLE}_{table}_{event} AFTER {event.upper()} ON {table} "
            f"FOR EACH ROW BEGIN {_NOTE[event]} {_PRUNE} END"
            for table in WATCHED
            for event in _EVENTS
        ),
    ]


def drop_statements() -> list[str]:
    """What :func:`create_statements` made, dropped."""
    return [*(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGERS), f"DROP TABLE {TABLE}"]


def watching(connection: Any) -> bool:
    """Whether every trigger is in place (a DB-API connection to SQLite)."""
    cursor = connection.cursor()
    try:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
            f"({', '.join('?' for _ in TRIGGERS)})",
            TRIGGERS,
        )
        return bool(cursor.fetchone()[0] == len(TRIGGERS))
    finally:
        cursor.close()


def changes_from(connection: Any, seq: int) -> list[tuple[int, str]]:
    """``(seq, serial)`` of the change numbered ``seq`` (when still kept) and every later one,
    in order; with ``seq`` 0, the newest change only (where a reader starts)."""
    cursor = connection.cursor()
    try:
        if seq:
            cursor.execute(f"SELECT seq, serial FROM {TABLE} WHERE seq >= ? ORDER BY seq", (seq,))
        else:
            cursor.execute(f"SELECT seq, serial FROM {TABLE} ORDER BY seq DESC LIMIT 1")
        return list(cursor.fetchall())
    finally:
        cursor.close()
