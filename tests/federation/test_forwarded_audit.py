"""``yihao audit verify`` and the requesting region's record of peers' assistance decisions:
a decision taken into the record is in the log; deleting, editing or writing one behind the
log's back is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, update

from services.common import audit_log
from services.common.database import Database
from services.common.evidence import Entry
from services.common.migrate import upgrade
from services.federation.forwarded_table import (
    FORWARDED_KIND,
    assistance_forwarded,
    forwarded_findings,
)

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
DIGEST = "ab" * 32


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'yihao.db'}")
    upgrade(database)
    yield database
    database.dispose()


def _row(request_id: str, status: str = "answered", digest: str | None = DIGEST) -> dict:
    return {
        "request_id": request_id,
        "region": "35",
        "item_code": "XZXZ-FJ-901",
        "item_name": "营业执照信息核查（福建）",
        "requester_code": "11310000524461246U",
        "requester_staff": None,
        "provider_code": "11350000742329550J",
        "holder_index": "00" * 32,
        "holder_masked": "91350100M000100Y43",
        "purpose": "开办企业",
        "case_number": "SH-1",
        "status": status,
        "submitted_at": AT,
        "deadline": AT + timedelta(days=1),
        "decided_at": AT if status != "pending" else None,
        "decision_sha256": digest if status != "pending" else None,
        "urgings": 0,
    }


def _findings(db: Database) -> list[tuple[str, str]]:
    with db.read() as conn:
        return [(ref, what) for _, _, ref, what in forwarded_findings(conn, audit_log.leaves(conn))]


def test_a_taken_decision_is_logged_and_tampering_is_named(db):
    with db.transaction() as conn:
        conn.execute(insert(assistance_forwarded).values([_row("A1"), _row("A2"), _row("A3")]))
        conn.execute(insert(assistance_forwarded).values(_row("P1", status="pending")))
        audit_log.append(conn, [Entry(FORWARDED_KIND, r, DIGEST) for r in ("A1", "A2")], AT)
    assert _findings(db) == [("A3", "forwarded assistance decision not in the log")]
    t = assistance_forwarded
    with db.transaction() as conn:
        conn.execute(update(t).where(t.c.request_id == "A1").values(status="pending"))
        conn.execute(delete(t).where(t.c.request_id == "A2"))
    assert sorted(_findings(db)) == [
        ("A1", "forwarded assistance decision edited"),
        ("A2", "forwarded assistance request deleted"),
        ("A3", "forwarded assistance decision not in the log"),
    ]
