"""Search every table and column of a store for values that must never be there in clear."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import MetaData, create_engine, select


def _texts(value: object) -> Iterable[str]:
    if value is None:
        return
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        yield raw.decode("utf-8", "replace")
        yield raw.decode("latin-1")
    elif isinstance(value, dict | list):
        yield json.dumps(value, ensure_ascii=False)
    else:
        yield str(value)


def clear_hits(url: str, needles: Iterable[str]) -> list[str]:
    """``table.column: needle`` for every needle found in clear in any row of any table."""
    wanted = [n for n in needles if n]
    engine = create_engine(url)
    meta = MetaData()
    hits: set[str] = set()
    try:
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    for column, value in row._mapping.items():
                        for text in _texts(value):
                            hits.update(f"{table.name}.{column}: {n}" for n in wanted if n in text)
    finally:
        engine.dispose()
    return sorted(hits)


def tables_scanned(url: str) -> list[str]:
    """The tables :func:`clear_hits` looks through (so a test can show it saw them all)."""
    engine = create_engine(url)
    meta = MetaData()
    try:
        meta.reflect(engine)
    finally:
        engine.dispose()
    return sorted(meta.tables)
