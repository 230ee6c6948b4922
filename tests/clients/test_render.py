"""One display rule for instants: the command line prints Beijing time, labelled, whatever the
machine's time zone; a date-time typed without an offset is read as Beijing time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from clients import render
from clients.verify_commands import _as_of
from yihao.v1 import licence_store_pb2 as pb

# 2026-12-04 14:13:35 UTC: the receipt id of that instant reads R20261204221335…
INSTANT = datetime(2026, 12, 4, 14, 13, 35, tzinfo=UTC)


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Shanghai"])
def machine_zone(request, monkeypatch):
    """The machine's local time zone, as the TZ environment sets it."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


def test_instants_print_as_beijing_time_on_any_machine(machine_zone) -> None:
    assert render.timestamp(_ts(INSTANT)) == "2026-12-04 22:13:35"
    assert render.when(_ts(INSTANT)) == "2026-12-04 22:13:35 北京时间"
    assert render.timestamp(Timestamp()) == render.when(Timestamp()) == ""  # unset


def test_cards_label_the_time_and_tables_say_it_once(machine_zone) -> None:
    licence = pb.Licence(licence_id="L", version=2, version_at=_ts(INSTANT), issued_at=_ts(INSTANT))
    card = render.licence_card(licence)
    assert "issued 签发         2026-12-04 22:13:35 北京时间" in card
    assert "2  2026-12-04 22:13:35 北京时间" in card
    event = pb.LicenceEvent(cursor=7, at=_ts(INSTANT), licence_id="L", version=2)
    table = render.events_table([event])
    assert "2026-12-04 22:13:35" in table and table.endswith("(times: 北京时间)")
    assert render.events_table([]).count("北京时间") == 0  # no rows, no note
    assert "2026-12-04 22:13:35 北京时间" in render.event_line(event)  # watch: one line each


def test_a_typed_instant_without_an_offset_is_beijing_time(machine_zone) -> None:
    as_of = _as_of("2026-12-04T22:13:35")
    assert as_of is not None and as_of.ToDatetime(tzinfo=UTC) == INSTANT
    with_offset = _as_of("2026-12-04T14:13:35+00:00")
    assert with_offset is not None and with_offset.ToDatetime(tzinfo=UTC) == INSTANT
