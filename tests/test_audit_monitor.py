"""`yihao audit monitor` against a real server process on SQLite: an honest growing log keeps
it green; a database rolled back to an earlier copy is caught within the interval."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from services.licence_store import demo
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import ServerProcess, server_process
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc

COMPANY = "91350100M000100Y43"


def issue(server: ServerProcess, number: str = "M-1") -> str:
    """Issue a business licence numbered ``number`` to COMPANY; its licence id."""
    reply = server.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"monitor-{number}",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=number,
            holder=common.Holder(number=COMPANY, name="示例"),
            fields=BUSINESS_FIELDS,
        )
    )
    return str(reply.licence_id)


def verify(server: ServerProcess, licence_id: str, times: int = 1) -> str:
    stub = verifier_pb2_grpc.VerifierStub(server.channel("hall"))
    request = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id))
    return str([stub.VerifyLicence(request).receipt_id for _ in range(times)][-1])


#: The monitor's environment: without debug output, so its lines are what an operator sees.
MONITOR_ENV = {**os.environ, "YIHAO_DEBUG": ""}


def monitor_argv(server: ServerProcess, state: Path, *options: str) -> list[str]:
    """``yihao audit monitor`` as the supervision department, its state and metrics beside
    ``state``."""
    return [
        sys.executable,
        "-m",
        "clients.cli",
        "--address",
        f"127.0.0.1:{server.port}",
        "--as",
        "supervision",
        "--var-dir",
        str(server.var_dir),
        "audit",
        "monitor",
        "--state",
        str(state),
        "--metrics-file",
        str(state.parent / "monitor.prom"),
        *options,
    ]


def start_monitor(
    server: ServerProcess, state: Path, every: float, *refs: str
) -> subprocess.Popen[str]:
    options = [opt for ref in refs for opt in ("--ref", ref)]
    return subprocess.Popen(
        monitor_argv(server, state, "--every", str(every), *options),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=MONITOR_ENV,
    )


def kept_sizes(state: Path) -> list[int]:
    import json

    path = state / "heads.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["tree_size"] for line in path.read_text().splitlines() if line]


def wait_for_kept(state: Path, size: int, monitor: subprocess.Popen[str], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not kept_sizes(state) or kept_sizes(state)[-1] < size:
        assert monitor.poll() is None, monitor.communicate()
        assert time.monotonic() < deadline, f"monitor kept {kept_sizes(state)}, wanted {size}"
        time.sleep(0.1)


def tree_size(server: ServerProcess) -> int:
    stub = verifier_pb2_grpc.VerifierStub(server.channel("supervision"))
    return int(stub.GetTreeHead(vpb.GetTreeHeadRequest(fresh=True)).tree_size)


def test_an_honest_growing_log_keeps_the_monitor_green(tmp_path):
    state = tmp_path / "monitor"
    with server_process(None, var_dir=tmp_path / "var") as server:
        licence = issue(server)
        receipt = verify(server, licence)
        monitor = start_monitor(server, state, 1, receipt)
        try:
            for _ in range(4):
                verify(server, licence, times=2)
                wait_for_kept(state, tree_size(server), monitor, limit=10)
        finally:
            monitor.send_signal(signal.SIGTERM)
            _, err = monitor.communicate(timeout=30)
    assert monitor.returncode == 0, err
    assert "ERROR" not in err
    sizes = kept_sizes(state)
    assert len(sizes) >= 4 and sizes == sorted(set(sizes)), sizes
    metrics = (tmp_path / "monitor.prom").read_text()
    assert "yihao_audit_monitor_last_success_timestamp_seconds" in metrics
    assert 'yihao_audit_monitor_failures_total{kind="inconsistent"} 0.0' in metrics


def backup(database: Path, copy: Path) -> None:
    """A consistent copy of a live SQLite database (its WAL included)."""
    source, target = sqlite3.connect(database), sqlite3.connect(copy)
    with target:
        source.backup(target)
    source.close()
    target.close()


def restore(copy: Path, database: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, database)


EVERY = 5.0  # seconds: the interval the done-when names


#: The monitor's own detection, from outside: the server here keeps no head of its own (with
#: one it refuses the rolled-back database itself: tests/test_trusted_head.py).
NO_KEPT_HEAD = {"YIHAO_TRUSTED_HEAD_FILE": "off"}


def test_a_rolled_back_database_is_caught_within_the_interval(tmp_path):
    var_dir, state = tmp_path / "var", tmp_path / "monitor"
    database, earlier = var_dir / "yihao.db", tmp_path / "earlier.db"
    with server_process(None, var_dir=var_dir, **NO_KEPT_HEAD) as server:
        port = server.port
        licence = issue(server)
        verify(server, licence, times=2)
        tree_size(server)  # a head signed before the copy
        backup(database, earlier)
        verify(server, licence, times=3)  # appended and signed after the copy
        monitor = start_monitor(server, state, EVERY)
        wait_for_kept(state, tree_size(server), monitor, limit=3 * EVERY)
    kept = kept_sizes(state)[-1]
    restore(earlier, database)
    with server_process(None, var_dir=var_dir, port=port, **NO_KEPT_HEAD):
        restarted = time.monotonic()
        try:
            _, err = monitor.communicate(timeout=2 * EVERY + 5)
        finally:
            if monitor.poll() is None:
                monitor.kill()
        caught_after = time.monotonic() - restarted
    print(f"rollback caught {caught_after:.1f} s after the restarted server served")
    assert monitor.returncode == 1, err
    error = [line for line in err.splitlines() if " ERROR " in line]
    assert error, err
    assert "INCONSISTENT LOG" in error[0] and "shrank" in error[0]
    assert f"kept head of {kept} entries" in error[0]
    assert caught_after <= EVERY + 5  # the next round, plus the call's own time
    # The heads it kept are `audit verify --heads` input: the database is behind them.
    heads = ["--heads", str(state / "heads.jsonl")]
    check = subprocess.run(
        [sys.executable, "-m", "clients.cli", "--var-dir", str(var_dir), "audit", "verify", *heads],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"a head saved outside the database covers {kept}" in check.stdout + check.stderr
