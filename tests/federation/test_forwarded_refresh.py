"""Listing a department's requests asks the peers about its forwarded requests still pending
(the nearest their deadline first, at most REFRESH_LIMIT); a peer that cannot be reached is
asked once per listing, and its requests stay as last seen. The periodic pull does the same
for every department's, each asked in its own department's name (at most PULL_LIMIT). The
real regions' test (test_regions_assistance) shows a decision taken by the pull."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from services.common.database import Database
from services.common.errors import FailedPrecondition, Unavailable
from services.common.identity import Caller
from services.federation import assistance_client
from services.federation.assistance_client import PeerAssistance
from services.federation.forwarded_table import assistance_forwarded

DEPT, OTHER = "11310000524461246U", "11310000358547406R"
T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _row(request_id: str, region: str, hours: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(
        request_id=request_id,
        region=region,
        item_code="XZXZ-FJ-902",
        item_name="核查",
        requester_code=DEPT,
        requester_staff=None,
        provider_code="11350100MB0000000X",
        holder_index="0" * 64,
        holder_masked="3501**********0011",
        purpose="开办企业",
        case_number="SH-1",
        status="pending",
        submitted_at=T0,
        deadline=T0 + timedelta(hours=hours),
        urgings=0,
    )
    row.update(changes)
    return row


def test_pending_forwarded_requests_are_asked_about_and_an_unreachable_peer_once(
    tmp_path, monkeypatch
):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    assistance_forwarded.create(db.engine)
    with db.transaction() as conn:
        conn.execute(
            insert(assistance_forwarded),
            [
                _row("A1", "35", 1),
                _row("A2", "35", 2),  # same unreachable peer: not asked again
                _row("A3", "44", 3),  # its decision does not verify: skipped, still counted out
                _row("A4", "44", 4),
                _row("A5", "44", 0, status="refused"),  # decided: not asked
                _row("A6", "44", 0, requester_code=OTHER),  # another department's
                _row("A7", "44", 9),  # beyond the limit
            ],
        )
    monkeypatch.setattr(assistance_client, "REFRESH_LIMIT", 4)
    asked: list[str] = []

    def get(caller: Caller, request_id: str) -> None:
        asked.append(request_id)
        if request_id == "A1":
            raise Unavailable("region 35 cannot be reached", reason="REGION_UNAVAILABLE")
        if request_id == "A3":
            raise FailedPrecondition("does not verify", reason="PEER_DECISION_INVALID")

    peers = PeerAssistance.__new__(PeerAssistance)
    peers.db = db
    peers.get = get  # type: ignore[method-assign]
    assert peers.refresh(Caller(DEPT)) == 1
    assert asked == ["A1", "A3", "A4"]
    db.dispose()


def test_the_periodic_pull_asks_about_every_departments_pending_requests(tmp_path, monkeypatch):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    assistance_forwarded.create(db.engine)
    with db.transaction() as conn:
        conn.execute(
            insert(assistance_forwarded),
            [
                _row("B1", "35", 1, requester_staff="li.si"),
                _row("B2", "44", 2, requester_code=OTHER),
                _row("B3", "44", 0, status="answered"),  # decided: not asked
                _row("B4", "35", 5),  # beyond the limit
            ],
        )
    monkeypatch.setattr(assistance_client, "PULL_LIMIT", 2)
    asked: list[tuple[str, str, str | None]] = []

    def get(caller: Caller, request_id: str) -> None:
        asked.append((request_id, caller.code, caller.staff))

    peers = PeerAssistance.__new__(PeerAssistance)
    peers.db = db
    peers.get = get  # type: ignore[method-assign]
    assert peers.pull_pending() == 2
    assert asked == [("B1", DEPT, "li.si"), ("B2", OTHER, None)]
    db.dispose()
