"""Runs the tamper matrix against a server in its own process, on SQLite or PostgreSQL.

For every edit × lifecycle state a licence of its own is issued and taken to that state
through the running server, verified once (so the process has seen its newest statement),
edited directly in the database, and verified again: by the running process, then by the
same server restarted on the edited database (a process that never saw the licence before
the edit). One server per backend; it restarts only where a phase needs it:

1. every per-licence edit (:data:`~testsupport.tamper.edits.EDITS`): verify, restart, verify;
2. the issuer's public key replaced (department-wide): verify, restart, verify;
3. the whole database restored from a copy taken before the issuer's last acts: the server
   stopped, the copy restored, the server started, verify. The server kept the log's signed
   head outside the database when it stopped (services.common.trusted_head), so it refuses
   every question on the restored copy (``REFUSED LOG_BEHIND_TRUSTED_HEAD`` in the cell).

Each licence is asked about with VerifyLicence (by type and number: the clerk's question,
whatever version is current), VerifyBatch (by the identifier of the issuer's newest version)
and VerifyByHolder; the cell shows VerifyLicence's answer, and every path is judged.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.common.config import load_settings
from services.common.database import Database
from services.common.signing import SigningKey
from testsupport.processes import PostgresServer, free_port
from testsupport.serverproc import ServerProcess, server_process
from testsupport.tamper import cases as c
from testsupport.tamper.edits import EDITS, key_replaced
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

KEY_EDIT = "department_keys.public_key replaced + newest statement re-signed"
RESTORE_EDIT = "whole database: earlier copy restored"
#: Rollbacks to a consistent, genuinely signed older state: a process that never saw the newer
#: statements cannot tell them from the truth; the monitor (issue 19 item 4) closes this.
ROLLBACKS = frozenset(
    {
        "licence_statements newest deleted + rows set back",
        "all rows: older copy re-inserted",
        RESTORE_EDIT,
    }
)
PHASES = ("running", "restarted")
#: A cell's verdict when the server refused to answer at all (it failed closed).
REFUSED = -1
ALLOWED_BESIDES_TRUTH = (vpb.VERDICT_CANNOT_CHECK, vpb.VERDICT_NOT_FOUND, REFUSED)


@dataclass(frozen=True)
class Cell:
    """One verification's answer."""

    verdict: int
    reason: str
    version: int

    def text(self) -> str:
        """As the matrix prints it: the verdict, with the reason of a CANNOT_CHECK and the
        version of a VALID."""
        if self.verdict == REFUSED:
            return f"REFUSED {self.reason}"
        name = vpb.Verdict.Name(self.verdict).removeprefix("VERDICT_")
        if self.verdict == vpb.VERDICT_CANNOT_CHECK:
            return f"{name} {self.reason}"
        return f"{name} v{self.version}" if self.verdict == vpb.VERDICT_VALID else name


@dataclass
class Matrix:
    """Edits × states × phases → the answer, and every breach of the invariant."""

    backend: str
    cells: dict[tuple[str, str, str], Cell | None] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)  # rollbacks a fresh process answered from


def judge(case: c.Case, cell: Cell) -> str | None:
    """What is wrong with ``cell`` as the answer on ``case`` (None: nothing): never VALID for a
    licence its issuer's latest act withdrew or changed, never the state the edit wrote."""
    if cell.verdict == vpb.VERDICT_VALID and (
        case.truth != vpb.VERDICT_VALID or cell.version != case.version
    ):
        return f"VALID (version {cell.version}) for a licence {case.state} at {case.version}"
    if cell.verdict != case.truth and cell.verdict not in ALLOWED_BESIDES_TRUTH:
        return f"{vpb.Verdict.Name(cell.verdict)} ({cell.reason}) for a licence {case.state}"
    return None


class Run:
    """One backend's server, its database, and the cases."""

    def __init__(self, backend: str, work: Path, pg: PostgresServer | None) -> None:
        self.backend = backend
        self.work = work
        self.pg = pg
        self.url = pg.create_database("tamper") if pg else None
        self.var_dir = work / "var"
        self.port = free_port()
        env = {"YIHAO_VAR_DIR": str(self.var_dir), **({"DATABASE_URL": self.url} if pg else {})}
        self.db_url = self.url or load_settings(env).database_url
        self.matrix = Matrix(backend)
        self.cases: list[c.Case] = []
        self.server: ServerProcess | None = None
        self._stack = ExitStack()

    # -------------------------------------------------------------------------- server

    def start(self, *, serving: bool = True) -> None:
        """Start the server (``serving`` False: it may answer health NOT_SERVING, failing
        closed)."""
        self.server = self._stack.enter_context(
            server_process(self.url, var_dir=self.var_dir, port=self.port, serving=serving)
        )

    def stop(self) -> None:
        self._stack.close()
        self._stack = ExitStack()
        self.server = None

    def _store(self) -> Any:
        assert self.server is not None
        return self.server.store("market")

    def _verifier(self) -> vgrpc.VerifierStub:
        assert self.server is not None
        return vgrpc.VerifierStub(self.server.channel("hall"))

    # --------------------------------------------------------------------------- cases

    def bring(self, case: c.Case, *, last_act: bool = True) -> None:
        db = Database(self.db_url)
        try:

            def copy(serial: str) -> dict[str, list[Any]]:
                with db.read() as conn:
                    return c.copy_rows(conn, serial)

            c.bring(case, self._store(), copy, last_act=last_act)
        finally:
            db.dispose()
        self.cases.append(case)

    def edit(self, cases: list[c.Case], edit: Any) -> None:
        db = Database(self.db_url)
        try:
            for case in cases:
                with db.transaction() as conn:
                    case.applied = edit(conn, case)
        finally:
            db.dispose()

    # ------------------------------------------------------------------------ verifying

    def verify(self, cases: list[c.Case], phase: str) -> None:
        """Ask about every case by number, in a batch and by holder; record and judge (a server
        that refuses to answer at all is recorded as refusing every case)."""
        try:
            self._verify(cases, phase)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:  # type: ignore[attr-defined]
                raise
            refused = Cell(REFUSED, _reason(exc), 0)
            for case in cases:
                key = (case.edit, case.state, phase)
                self.matrix.cells[key] = refused if case.applied else None

    def _verify(self, cases: list[c.Case], phase: str) -> None:
        verifier = self._verifier()
        by_number = [
            pb.LicenceRef(
                type_and_number=pb.TypeAndNumber(type_code=c.TYPE_CODE, licence_number=x.number)
            )
            for x in cases
        ]
        single = [verifier.VerifyLicence(vpb.VerifyLicenceRequest(licence=r)) for r in by_number]
        items = [
            vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=x.licence_id)) for x in cases
        ]
        batch = [
            v
            for reply in verifier.VerifyBatch(iter([vpb.VerifyBatchRequest(items=items)]))
            for v in reply.results
        ]
        by_holder = {
            v.licence_id.split(".")[-3]: v
            for v in verifier.VerifyByHolder(
                vpb.VerifyByHolderRequest(holder_number=c.HOLDER, purpose="tamper matrix")
            ).verifications
        }
        for case, one, many in zip(cases, single, batch, strict=True):
            answers = {"VerifyLicence": one, "VerifyBatch": many}
            if case.serial in by_holder:
                answers["VerifyByHolder"] = by_holder[case.serial]
            self._record(case, phase, answers)

    def _record(self, case: c.Case, phase: str, answers: dict[str, Any]) -> None:
        key = (case.edit, case.state, phase)
        if not case.applied:
            self.matrix.cells[key] = None
            return
        cells = {path: Cell(a.verdict, a.reason, a.version) for path, a in answers.items()}
        self.matrix.cells[key] = cells["VerifyLicence"]
        for path, cell in cells.items():
            wrong = judge(case, cell)
            if wrong is None:
                continue
            where = f"{self.backend} {phase} {path}: {case.edit} / {case.state}: {wrong}"
            gap = phase == "restarted" and case.edit in ROLLBACKS
            (self.matrix.gaps if gap else self.matrix.violations).append(where)

    # ------------------------------------------------------------------------ database

    def snapshot(self) -> None:
        if self.pg is None:
            with (
                sqlite3.connect(_path(self.db_url)) as live,
                sqlite3.connect(self.work / "copy.db") as copy,
            ):
                live.backup(copy)
            return
        self._pg_tool("pg_dump", "-Fc", "-f", str(self.work / "copy.dump"), "tamper")

    def restore(self) -> None:
        """Put the copy back (the server is stopped)."""
        if self.pg is None:
            with (
                sqlite3.connect(self.work / "copy.db") as copy,
                sqlite3.connect(_path(self.db_url)) as live,
            ):
                copy.backup(live)
            return
        self._pg_tool("dropdb", "tamper")
        self._pg_tool("createdb", "-T", "template0", "tamper")
        self._pg_tool("pg_restore", "-d", "tamper", str(self.work / "copy.dump"))

    def _pg_tool(self, tool: str, *args: str) -> None:
        assert self.pg is not None
        where = ["-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres"]
        subprocess.run([str(self.pg.bindir / tool), *where, *args], check=True)


def _reason(exc: grpc.RpcError) -> str:
    """The ErrorInfo reason of a refused call."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status is not None else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return "UNKNOWN"


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def run(backend: str) -> Matrix:
    """The whole matrix on ``backend`` ("sqlite" or "postgresql")."""
    with _workspace(backend) as (work, pg):
        r = Run(backend, work, pg)
        r.start()
        try:
            _per_licence_edits_and_keys_and_restore(r)
        finally:
            r.stop()
        return r.matrix


def _per_licence_edits_and_keys_and_restore(r: Run) -> None:
    numbered = iter(range(1, 10_000))
    restored = [c.Case(RESTORE_EDIT, s, f"R-{next(numbered)}") for s in c.STATES]
    for case in restored:
        r.bring(case, last_act=False)
    r.snapshot()
    for case in restored:
        c.finish(case, r._store())
    edited = [c.Case(e, s, f"E-{next(numbered)}") for e in EDITS for s in c.STATES]
    keyed = [c.Case(KEY_EDIT, s, f"K-{next(numbered)}") for s in c.STATES]
    for case in [*edited, *keyed]:
        r.bring(case)
        if case.edit == "licence_statements swapped with another licence":
            other_state = "active" if case.truth != vpb.VERDICT_VALID else "revoked"
            case.sibling = c.Case("sibling", other_state, f"S-{next(numbered)}")
            r.bring(case.sibling)
    r.verify([*restored, *edited, *keyed], "before")  # each seen once by the running process
    for name, edit in EDITS.items():
        r.edit([x for x in edited if x.edit == name], edit)
    r.verify(edited, "running")
    r.stop()
    r.start()
    r.verify(edited, "restarted")
    r.edit(keyed, key_replaced(SigningKey.generate("attacker")))
    r.verify(keyed, "running")
    r.stop()
    r.start()
    r.verify(keyed, "restarted")
    r.stop()
    r.restore()
    r.start(serving=False)
    r.verify(restored, "restarted")


@contextmanager
def _workspace(backend: str) -> Iterator[tuple[Path, PostgresServer | None]]:
    work = Path(tempfile.mkdtemp(prefix=f"yihao-tamper-{backend}-"))
    try:
        if backend == "sqlite":
            yield work, None
            return
        pg = PostgresServer(durable=True).start()
        try:
            yield work, pg
        finally:
            pg.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)
