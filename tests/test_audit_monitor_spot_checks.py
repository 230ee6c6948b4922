"""The audit monitor picks the newest entries itself and spot-checks them and the status chains
of the licences they changed, against a real server process on SQLite: an honest log passes;
a licence's newest statement deleted while the log kept its entry, and an entry deleted from
the log under its stored hashes, are each reported loudly (exit 1, ERROR line, metric)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.test_audit_monitor import MONITOR_ENV, issue, monitor_argv, verify
from testsupport.serverproc import ServerProcess, server_process
from yihao.v1 import licence_store_pb2 as pb


def revoke(server: ServerProcess, licence_id: str) -> None:
    server.store("market").RevokeLicence(
        pb.StatusChangeRequest(
            idempotency_key=f"spot-revoke-{licence_id}",
            licence=pb.LicenceRef(licence_id=licence_id),
            reason_code="FRAUD",
        )
    )


def monitor_once(
    server: ServerProcess, state: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        monitor_argv(server, state, *options),
        capture_output=True,
        text=True,
        env=MONITOR_ENV,
        timeout=120,
    )


def edit(database: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute(sql, params)


def serial_of(licence_id: str) -> str:
    return licence_id.split(".")[-3]


def test_an_honest_log_passes_with_its_newest_entries_and_chains_checked(tmp_path: Path) -> None:
    state = tmp_path / "monitor"
    with server_process(None, var_dir=tmp_path / "var") as server:
        licence = issue(server, "S-1")
        verify(server, licence)
        revoke(server, licence)
        issue(server, "S-2")
        run = monitor_once(server, state)
        assert run.returncode == 0, run.stderr
        assert "licences' status chains spot-checked" in run.stderr
        line = next(x for x in run.stderr.splitlines() if "spot-checked" in x)
        assert " 2 licences' status chains" in line, line  # S-1 (issued, revoked) and S-2
        again = monitor_once(server, state)  # remembered chains: still consistent
        assert again.returncode == 0, again.stderr


def test_a_licence_whose_newest_statement_was_deleted_is_reported(tmp_path: Path) -> None:
    state, var_dir = tmp_path / "monitor", tmp_path / "var"
    with server_process(None, var_dir=var_dir) as server:
        licence = issue(server, "S-1")
        assert monitor_once(server, state).returncode == 0
        revoke(server, licence)
        # Its revocation statement deleted; the log keeps the revocation's entry.
        edit(
            var_dir / "yihao.db",
            "DELETE FROM licence_statements WHERE serial = ? AND sequence = 2",
            serial_of(licence),
        )
        run = monitor_once(server, state)
    assert run.returncode == 1, run.stderr
    error = [x for x in run.stderr.splitlines() if " ERROR " in x]
    assert error and "INCONSISTENT LOG" in error[0], run.stderr
    assert f"licence {serial_of(licence)}: log entry #" in error[0]
    assert "records the act revoked" in error[0] and "does not hold" in error[0]
    metrics = (tmp_path / "monitor.prom").read_text()
    assert 'yihao_audit_monitor_failures_total{kind="inconsistent"} 1.0' in metrics


def test_an_entry_deleted_under_its_stored_hashes_is_named(tmp_path: Path) -> None:
    state, var_dir = tmp_path / "monitor", tmp_path / "var"
    with server_process(None, var_dir=var_dir) as server:
        licence = issue(server, "S-1")
        verify(server, licence, times=3)
        assert monitor_once(server, state).returncode == 0
        with sqlite3.connect(var_dir / "yihao.db") as conn:
            (newest,) = conn.execute("SELECT max(idx) FROM audit_leaves").fetchone()
        edit(var_dir / "yihao.db", "DELETE FROM audit_leaves WHERE idx = ?", newest - 1)
        run = monitor_once(server, state)
    assert run.returncode == 1, run.stderr
    error = next(x for x in run.stderr.splitlines() if " ERROR " in x)
    # Named by the listing's gap, or by the server itself when its next head needs the hash.
    assert (
        f"entry #{newest - 1} is covered by the head" in error
        or f"the log is incomplete: the log's stored hash at level 0, index {newest - 1}" in error
        or f"log is incomplete: the log's stored hash at level 0, index {newest - 1}" in error
    ), error


def test_a_chain_that_does_not_verify_is_reported(tmp_path: Path) -> None:
    state, var_dir = tmp_path / "monitor", tmp_path / "var"
    with server_process(None, var_dir=var_dir) as server:
        licence = issue(server, "S-1")
        revoke(server, licence)
        where = "WHERE serial = ? AND sequence = 2"
        with sqlite3.connect(var_dir / "yihao.db") as conn:  # the revocation's bytes edited
            (body,) = conn.execute(
                f"SELECT body FROM licence_statements {where}", [serial_of(licence)]
            ).fetchone()
            edited = bytes(body).replace(b'"revoked"', b'"active"')
            assert edited != bytes(body)
            conn.execute(
                f"UPDATE licence_statements SET body = ? {where}", [edited, serial_of(licence)]
            )
        run = monitor_once(server, state)
    assert run.returncode == 1, run.stderr
    assert "its status chain does not verify (STATUS_" in run.stderr, run.stderr


def test_a_compromise_mark_undone_in_the_database_is_reported(tmp_path: Path) -> None:
    state, var_dir = tmp_path / "monitor", tmp_path / "var"
    with server_process(None, var_dir=var_dir) as server:
        licence = issue(server, "S-1")
        key_id = (
            server.store("market")
            .GetLicence(pb.GetLicenceRequest(licence=pb.LicenceRef(licence_id=licence)))
            .signature.key_id
        )
        server.store("data").MarkKeyCompromised(pb.MarkKeyCompromisedRequest(key_id=key_id))
        assert monitor_once(server, state).returncode == 0  # the mark seen and pinned
        edit(var_dir / "yihao.db", "UPDATE department_keys SET compromised_at = NULL")
        run = monitor_once(server, state)
    assert run.returncode == 1, run.stderr
    assert f"the published key {key_id}" in run.stderr
    assert "compromise mark" in run.stderr and "removed or moved later" in run.stderr
