"""Alerts for supervision (电子监察) that no request carries: today, departments whose holder
matching was refused because they spent a day's budget of MISMATCH answers
(:mod:`services.common.match_budget`). The supervision view lists them.

The table is shared like the access records: the verifier writes, supervision reads.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    insert,
    select,
)

from services.common.clock import as_utc
from services.common.database import Database, metadata
from services.common.match_budget import Alert

supervision_alerts = Table(
    "supervision_alerts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("department_code", String(18), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("subject", String(200), nullable=False),  # a licence id or a masked holder number
    Column("day", Date, nullable=False),  # in China
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_supervision_alerts_day", "day", "id"),
)


class AlertLog:
    """Stores supervision alerts and lists them by day."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, alert: Alert) -> None:
        """Store one alert (its own small transaction: an alert is rare)."""
        with self._db.transaction() as conn:
            conn.execute(
                insert(supervision_alerts).values(
                    department_code=alert.department_code,
                    kind=alert.kind,
                    subject=alert.subject[:200],
                    day=alert.day,
                    at=alert.at,
                )
            )

    def between(self, first: date | None, last: date | None, limit: int = 1000) -> list[Alert]:
        """Alerts of the days ``first`` to ``last`` (inclusive; None: unbounded), oldest first."""
        t = supervision_alerts
        stmt = select(t)
        if first is not None:
            stmt = stmt.where(t.c.day >= first)
        if last is not None:
            stmt = stmt.where(t.c.day <= last)
        with self._db.read() as conn:
            rows = conn.execute(stmt.order_by(t.c.id).limit(limit)).all()
        return [Alert(r.department_code, r.kind, r.subject, r.day, as_utc(r.at)) for r in rows]
