"""A slow database and a full disk: callers get clear statuses, nothing is half-written, and
the server recovers by itself."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from sqlalchemy import event, func, select, text

from services.licence_store import demo
from services.licence_store.persistence.tables import licence_events, licences
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb


def _issue(stack: Stack, n: int, timeout: float = 10) -> pb.Licence:
    return stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"fault-{n:06d}",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=f"F-{n}",
            holder=common.Holder(number="91350100M000100Y43", name="示例"),
            fields=BUSINESS_FIELDS,
        ),
        timeout=timeout,
    )


def _consistent(stack: Stack) -> None:
    with stack.app.db.read() as conn:
        n_licences = conn.execute(select(func.count()).select_from(licences)).scalar()
        with_events = conn.execute(
            select(func.count(func.distinct(licence_events.c.serial)))
        ).scalar()
    assert n_licences == with_events  # no licence without its event, nothing half-written


@pytest.fixture
def slow_db(stack: Stack):
    delay = {"s": 0.0}

    def sleep(*_args):
        if delay["s"]:
            time.sleep(delay["s"])

    event.listen(stack.app.db.engine, "before_cursor_execute", sleep)
    yield delay
    event.remove(stack.app.db.engine, "before_cursor_execute", sleep)


def test_slow_database_deadline_exceeded_then_recovers(stack: Stack, slow_db):
    slow_db["s"] = 0.3
    codes: list[grpc.StatusCode] = []

    def call(n: int) -> None:
        try:
            _issue(stack, n, timeout=0.5)
            codes.append(grpc.StatusCode.OK)
        except grpc.RpcError as exc:
            codes.append(exc.code())

    threads = [threading.Thread(target=call, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(codes) == {grpc.StatusCode.DEADLINE_EXCEEDED}
    slow_db["s"] = 0.0
    assert _issue(stack, 1000).version == 1  # recovered, the handler pool is not clogged
    _consistent(stack)


def test_full_disk_is_unavailable_without_corruption_and_recovers(stack: Stack):
    engine = stack.app.db.engine
    limit = {"pages": 0}

    def cap(dbapi_conn, _record):
        if limit["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count = {limit['pages']}")

    event.listen(engine, "connect", cap)
    try:
        _issue(stack, 0)
        with stack.app.db.read() as conn:
            used = conn.execute(text("PRAGMA page_count")).scalar()
        limit["pages"] = used + 2
        engine.dispose()  # new connections get the cap
        errors = []
        for n in range(1, 400):
            try:
                _issue(stack, n)
            except grpc.RpcError as exc:
                errors.append(exc)
                break
        assert errors, "the capped database never filled up"
        assert errors[0].code() == grpc.StatusCode.UNAVAILABLE
        assert "database" in errors[0].details()
        limit["pages"] = 0
        engine.dispose()
        with stack.app.db.read() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert _issue(stack, 5000).version == 1  # space is back: it works again
        _consistent(stack)
    finally:
        event.remove(engine, "connect", cap)


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"
