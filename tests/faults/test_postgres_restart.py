"""PostgreSQL restarts in the middle of a streaming import: the client library rides it out,
the import completes, and every record is stored exactly once."""

from __future__ import annotations

import threading

import psycopg
import pytest

from clients.client import YihaoClient
from clients.connection import ClientConfig
from clients.retry import RetryPolicy
from services.licence_store import demo
from testsupport import availability
from testsupport.processes import PostgresServer
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import server_process
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

TYPE = demo.BUSINESS_LICENCE.type_code
TOTAL = 8000

pytestmark = pytest.mark.postgres


def _records():
    for i in range(TOTAL):
        yield pb.ImportRecord(
            line=i + 1,
            licence=pb.IssueLicenceRequest(
                idempotency_key=f"pgr:{TYPE}:P-{i}",
                type_code=TYPE,
                licence_number=f"P-{i}",
                holder=common.Holder(number="91350100M000100Y43", name=f"企业{i}"),
                fields=BUSINESS_FIELDS,
            ),
        )


def test_import_survives_a_postgres_restart():
    availability.require(availability.POSTGRESQL)
    pg = PostgresServer(durable=True).start()  # its own server: this test restarts it
    try:
        url = pg.create_database("restart")
        with server_process(url) as server:
            config = ClientConfig.for_department(
                "market", server.var_dir, address=f"127.0.0.1:{server.port}"
            )
            results = []
            restarted = threading.Event()
            with YihaoClient(config) as client:
                policy = RetryPolicy(initial=0.2, maximum=1.0, deadline=120.0)
                for result in client.import_licences_resumable(_records(), policy=policy):
                    results.append(result)
                    if len(results) == 1500 and not restarted.is_set():
                        pg.restart()
                        restarted.set()
        assert restarted.is_set()
        lines = [r.line for r in results]
        assert sorted(set(lines)) == list(range(1, TOTAL + 1))  # every record answered
        assert all(
            r.outcome in (pb.IMPORT_OUTCOME_ACCEPTED, pb.IMPORT_OUTCOME_DUPLICATE) for r in results
        )
        with psycopg.connect(pg.dsn("restart")) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT licence_number) FROM licences")
            assert stored.fetchone() == (TOTAL, TOTAL)
            events = conn.execute("SELECT count(*) FROM licence_events").fetchone()
            assert events == (TOTAL,)
    finally:
        pg.cleanup()
