"""A server killed with SIGKILL loses nothing it acknowledged.

During a streaming import: every record whose result came back is stored after a restart,
and importing the whole file again stores each record exactly once. During a verification
burst: every receipt id returned before the kill can be fetched and verified afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import grpc
import pytest

from services.licence_store import demo
from testsupport.imports import import_records
from testsupport.processes import PostgresServer
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import ServerProcess, server_process
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

TYPE = demo.BUSINESS_LICENCE.type_code
TOTAL = 6000


def _records(n: int = TOTAL) -> Iterator[pb.ImportRecord]:
    for i in range(n):
        yield pb.ImportRecord(
            line=i + 1,
            licence=pb.IssueLicenceRequest(
                idempotency_key=f"kill:{TYPE}:K-{i}",
                type_code=TYPE,
                licence_number=f"K-{i}",
                holder=common.Holder(number="91350100M000100Y43", name=f"企业{i}"),
                fields=BUSINESS_FIELDS,
            ),
        )


def _stored(server: ServerProcess, lines: set[int]) -> set[int]:
    store = server.store("market")
    found = set()
    for line in lines:
        ref = pb.LicenceRef(
            type_and_number=pb.TypeAndNumber(type_code=TYPE, licence_number=f"K-{line - 1}")
        )
        try:
            store.GetLicence(pb.GetLicenceRequest(**WHY, licence=ref), timeout=10)
            found.add(line)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> str | None:
    if request.param == "sqlite":
        return None
    pg: PostgresServer = request.getfixturevalue("postgres")
    return pg.create_database(f"kill_{tmp_path.name[-8:]}".replace("-", "_"))


def test_sigkill_during_import_loses_no_acknowledged_record(database, tmp_path):
    var = tmp_path / "var"
    acked: set[int] = set()
    with server_process(database, var_dir=var) as server:
        stream = import_records(server.store("market"), _records(), timeout=60)
        try:
            for result in stream:
                assert result.outcome == pb.IMPORT_OUTCOME_ACCEPTED
                acked.add(result.line)
                if len(acked) >= 1500:
                    server.proc.send_signal(signal.SIGKILL)
                    server.proc.wait()
                    break
        except grpc.RpcError:
            pass  # the stream dies with the server
        assert len(acked) >= 1500
    with server_process(database, var_dir=var) as again:
        assert _stored(again, acked) == acked
        results = list(import_records(again.store("market"), _records(), timeout=120))
        outcomes = {r.line: r.outcome for r in results}
        assert all(outcomes[line] == pb.IMPORT_OUTCOME_DUPLICATE for line in acked)
        assert set(outcomes.values()) <= {pb.IMPORT_OUTCOME_ACCEPTED, pb.IMPORT_OUTCOME_DUPLICATE}
        listed = again.store("market").ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(**WHY, holder_number="91350100M000100Y43", page_size=1)
        )
        assert listed.licences  # the store answers normally after the crash
        assert len(_stored(again, set(range(1, TOTAL + 1, 97)))) == len(range(1, TOTAL + 1, 97))


def test_sigkill_during_verification_burst_loses_no_returned_receipt(database, tmp_path):
    var = tmp_path / "var"
    receipts: list[str] = []
    lock = threading.Lock()
    with server_process(database, var_dir=var) as server:
        licence = server.store("market").IssueLicence(next(_records(1)).licence)
        stub = vgrpc.VerifierStub(server.channel("hall"))
        request = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence.licence_id))
        stop = threading.Event()

        def burst() -> None:
            while not stop.is_set():
                try:
                    answer = stub.VerifyLicence(request, timeout=5)
                except grpc.RpcError:
                    return
                with lock:
                    receipts.append(answer.receipt_id)

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for t in threads:
            t.start()
        while True:
            with lock:
                if len(receipts) >= 300:
                    break
            threading.Event().wait(0.01)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for t in threads:
            t.join(10)
    with server_process(database, var_dir=var) as again:
        stub = vgrpc.VerifierStub(again.channel("supervision"))
        for receipt_id in receipts:
            check = stub.VerifyReceipt(vpb.GetReceiptRequest(receipt_id=receipt_id), timeout=10)
            assert check.authentic, receipt_id
