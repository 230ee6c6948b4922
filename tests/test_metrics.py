"""/metrics of a real server: RPC, verdict and group-commit series after verifications, from
one process and from every worker of several."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.licence_store import demo
from testsupport.processes import free_port
from testsupport.serverproc import ServerProcess, children, cpu_ticks, server_process
from yihao.v1 import common_pb2, common_pb2_grpc
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

HOLDER = "11010519491231002X"
OTHER = "110105194912310038"  # another person's number, well-formed
HALL = demo.ALIASES["hall"]


def _scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def _value(samples, name: str, **labels: str) -> float:
    return sum(v for got, v in samples.get(name, []) if labels.items() <= got.items())


def _drained(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A scrape once the log's queue is empty and the sequencer has counted what it appended
    (or after 10 s). Both: a pass counts its entries just after its commit, so a scrape in
    between finds the queue empty and nothing counted yet (seen once in CI)."""
    deadline = time.monotonic() + 10
    samples = _scrape(port)
    while (
        _value(samples, "yihao_audit_queue_entries")
        or not _value(samples, "yihao_audit_sequenced_entries_total")
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
        samples = _scrape(port)
    return samples


def _issue_and_verify(server: ServerProcess) -> str:
    licence = server.store("police").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key="metrics-0001",
            type_code=demo.RESIDENCE_PERMIT.type_code,
            licence_number="MET-1",
            holder=common.Holder(number=HOLDER, name="张三"),
            fields={
                "sex": "男",
                "domicile": "福州",
                "residence_address": "福州",
                "issuing_office": "台江分局",
            },
        )
    )
    verifier = vgrpc.VerifierStub(server.channel("hall"))
    for _ in range(3):
        answer = verifier.VerifyLicence(
            vpb.VerifyLicenceRequest(
                licence=pb.LicenceRef(licence_id=licence.licence_id),
                presented_holder_number=HOLDER,
                purpose="核查",
                case_number="HC-2026-0001",
            )
        )
        assert answer.verdict == vpb.VERDICT_VALID
    return str(licence.licence_id)


def _guess(server: ServerProcess, licence_id: str, times: int) -> None:
    """Present someone else's number ``times`` (distinct cases, so no replays)."""
    verifier = vgrpc.VerifierStub(server.channel("hall"))
    for n in range(times):
        verifier.VerifyLicence(
            vpb.VerifyLicenceRequest(
                licence=pb.LicenceRef(licence_id=licence_id),
                presented_holder_number=OTHER,
                purpose="核查",
                case_number=f"HC-2026-{n + 2:04d}",
            )
        )


def test_a_scrape_finds_rpc_verdict_and_group_commit_series(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    with server_process(None, log_file=log, YIHAO_METRICS_LISTEN=f"127.0.0.1:{port}") as server:
        licence_id = _issue_and_verify(server)
        samples = _scrape(port)
        _guess(server, licence_id, 12)  # 10 MISMATCH answered (the day's budget), 2 refused
        later = _scrape(port)
        drained = _drained(port)
    assert f"Metrics: http://127.0.0.1:{port}/metrics" in log.read_text()  # the banner says
    rpc = dict(service="yihao.v1.Verifier", method="VerifyLicence", code="OK")
    assert _value(samples, "yihao_rpc_handled_total", **rpc) == 3
    assert (
        _value(
            samples,
            "yihao_rpc_duration_seconds_count",
            service="yihao.v1.Verifier",
            method="VerifyLicence",
        )
        == 3
    )
    assert _value(samples, "yihao_verdicts_total", verdict="valid", reason="ALL_CHECKS_PASSED") == 3
    assert _value(samples, "yihao_group_commit_batch_size_sum", committer="receipts") >= 3
    assert _value(samples, "yihao_group_commit_wait_seconds_count", committer="receipts") >= 3
    assert _value(samples, "yihao_combined_round_size_sum", combiner="verify") == 3
    assert _value(samples, "yihao_holder_match_refused_total", department=HALL) == 0
    assert _value(later, "yihao_holder_match_refused_total", department=HALL) == 2
    assert _value(samples, "yihao_combined_round_seconds_count", combiner="verify") >= 1
    assert _value(samples, "yihao_db_statement_seconds_count") > 0
    # The licence's row: read from the database once, then (SQLite) kept while unchanged.
    kept = _value(samples, "yihao_licence_rows_total", source="kept")
    read = _value(samples, "yihao_licence_rows_total", source="read")
    assert kept + read == 3 and read >= 1
    assert "yihao_calendar_years_ahead" in samples
    assert "yihao_audit_tree_size" in samples
    # The receipts' log entries were queued; the sequencer appended them within 0.1 s.
    assert _value(drained, "yihao_audit_queue_entries") == 0
    assert _value(drained, "yihao_audit_queue_oldest_age_seconds") == 0
    assert _value(drained, "yihao_audit_sequenced_entries_total") > 0
    assert _value(drained, "yihao_audit_sequence_seconds_count") >= 1
    assert _value(drained, "yihao_audit_sequence_failures_total") == 0
    # SQLite: its WAL as last checkpointed, never truncated at this load
    assert "yihao_sqlite_wal_frames" in later
    assert later["yihao_sqlite_wal_truncations_total"] == [({}, 0.0)]
    for name, series in samples.items():
        for labels, _ in series:
            assert HOLDER not in str(labels), f"a holder's number in the labels of {name}"


def test_two_workers_are_both_counted(tmp_path):
    port = free_port()
    calls = 0
    with server_process(None, workers=2, YIHAO_METRICS_LISTEN=f"127.0.0.1:{port}") as server:
        workers = [
            p
            for p in children(server.proc.pid)
            if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
        ]
        before = {p: cpu_ticks(p) for p in workers}
        for _ in range(40):  # fresh connections: the kernel spreads them over the workers
            with server.channel("hall") as channel:
                for _ in range(10):
                    common_pb2_grpc.DiagnosticsStub(channel).Ping(common_pb2.PingRequest())
                    calls += 1
        busy = [p for p in workers if cpu_ticks(p) - before[p] > 0]
        samples = _scrape(port)
    assert len(workers) == 2 and len(busy) == 2, "only one worker served: the test proves nothing"
    ping = dict(service="yihao.v1.Diagnostics", method="Ping", code="OK")
    assert _value(samples, "yihao_rpc_handled_total", **ping) == calls
