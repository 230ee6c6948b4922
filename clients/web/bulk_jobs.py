"""Bulk imports at the operator desk: an uploaded file imported in the background.

The same files and outcomes as ``yihao import`` (:mod:`clients.importfile`, :mod:`clients.bulk`):
JSON Lines or CSV, one licence per line; each line ends accepted, duplicate (stored by an
earlier import: the default key is ``import:<type>:<number>``, so sending a file again stores
nothing twice) or rejected with its reason. The file is checked before anything is sent
(:func:`check_file`): its size (at most ``max_bytes``: ``YIHAO_WEB_IMPORT_MAX_BYTES``, by
default :data:`MAX_BYTES`), its name's format, UTF-8 throughout (the
first bad byte's line and column are named) and, for CSV, its header; a bad file is refused
whole with the line, column and rule. Then a thread streams the records through the
department's client (the staff member named on every call) and keeps the progress and every
line's outcome in the desk database (``web_bulk_jobs``, ``web_bulk_results``): the page polls
the progress, the report is downloaded as CSV. At most :data:`RUNNING` imports run at once per
desk process; the others wait their turn. A job that was running when the desk stopped is
marked failed when the desk starts again.

A failed import (the services unreachable, the desk stopped) keeps its file for
:data:`KEEP_SECONDS`, so the operator can run it again from the job's page (:meth:`BulkJobs.retry`:
a new job over the same file; what was stored the first time comes back duplicate, so nothing
is stored twice). A finished import's file is deleted at once; a kept one when it is run
again or when it is older than that (checked at start and at each new import): licence files
hold personal data and are not kept longer than they serve.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update

from clients.bulk import DEFAULT_BATCH, Tally, batches
from clients.client import YihaoClient
from clients.importfile import LocalRejection, detect_format, read_records
from clients.web.db import BULK_JOBS, BULK_RESULTS
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import FailedPrecondition, InvalidArgument, YihaoError

__all__ = ["KEEP_SECONDS", "MAX_BYTES", "RUNNING", "BulkJobs", "check_file", "size_words"]

#: The largest file the desk takes unless ``YIHAO_WEB_IMPORT_MAX_BYTES`` says otherwise (a
#: bigger one: split it, or use ``yihao import``).
MAX_BYTES = 20 * 1024 * 1024
#: Imports running at once per desk process.
RUNNING = 2
#: How long a failed import's file is kept for running it again (seconds).
KEEP_SECONDS = 24 * 3600
#: Progress is written at least this often (seconds) and every this many results.
FLUSH_SECONDS, FLUSH_RESULTS = 0.5, 500
_OUTCOMES = {
    pb.IMPORT_OUTCOME_ACCEPTED: "accepted",
    pb.IMPORT_OUTCOME_DUPLICATE: "duplicate",
    pb.IMPORT_OUTCOME_REJECTED: "rejected",
}
_SUFFIXES = ".csv, .jsonl, .json or .ndjson"


def _refuse(rule: str) -> InvalidArgument:
    return InvalidArgument.field("file", rule, "BAD_FILE")


def size_words(size: int) -> str:
    """A size in bytes as a person reads it (``20 MiB``, ``1.5 KiB``, ``900 bytes``)."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def check_file(name: str, raw: bytes, max_bytes: int = MAX_BYTES) -> tuple[str, int]:
    """(format, records in it) of an uploaded file, or :class:`InvalidArgument` on ``file``
    naming the line, the column and the rule it breaks; a file over ``max_bytes`` is refused."""
    if not name:
        raise _refuse("choose a file")
    if len(raw) > max_bytes:
        raise _refuse(
            f"is {size_words(len(raw))}; the desk takes at most {size_words(max_bytes)} "
            "(split the file, or use yihao import)"
        )
    try:
        fmt = detect_format(Path(name))
    except InvalidArgument as exc:
        raise _refuse(f"{name} must end in {_SUFFIXES} (JSON Lines or CSV)") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        start = raw.rfind(b"\n", 0, exc.start) + 1  # the bytes before are valid UTF-8
        column = len(raw[start : exc.start].decode("utf-8")) + 1
        raise _refuse(
            f"line {line}, column {column}: not UTF-8; save the file as UTF-8 "
            "(for example, not GBK)"
        ) from exc
    records = sum(1 for line in text.splitlines() if line.strip())
    if fmt == "csv":
        records -= 1  # the header
    if records <= 0:
        raise _refuse("holds no records" + (" under its header" if fmt == "csv" else ""))
    return fmt, records


@dataclass(frozen=True)
class Job:
    """A bulk import as its page shows it."""

    job_id: str
    account_id: str
    department: str
    file_name: str
    state: str
    total: int
    done: int
    accepted: int
    duplicate: int
    rejected: int
    error: str | None
    created_at: float
    finished_at: float | None

    @property
    def finished(self) -> bool:
        """Whether the import has ended (done or failed)."""
        return self.state in ("done", "failed")

    @property
    def percent(self) -> int:
        """How far it is, 0-100."""
        if self.state == "done":
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0


class BulkJobs:
    """Starts bulk imports and reads their progress and outcomes (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        folder: Path,
        clock: Callable[[], float],
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.engine = engine
        self.max_bytes = max_bytes
        self.folder = folder
        self.clock = clock
        self._slots = threading.Semaphore(RUNNING)
        self._threads: list[threading.Thread] = []
        self._recover()
        self._sweep()

    def _sweep(self) -> None:
        """Delete kept files no job may run again: of jobs that are not failed, or failed
        more than :data:`KEEP_SECONDS` ago (or with no job at all)."""
        if not self.folder.is_dir():
            return
        cutoff = self.clock() - KEEP_SECONDS
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(BULK_JOBS.c.job_id, BULK_JOBS.c.state, BULK_JOBS.c.finished_at)
            ).all()
        keep = {
            r.job_id
            for r in rows
            if r.state in ("queued", "running")
            or (r.state == "failed" and (r.finished_at or 0) >= cutoff)
        }
        known = {r.job_id for r in rows}
        recent = time.time() - 600  # a file being written now has no job row yet
        for path in self.folder.iterdir():
            if path.stem in keep or (path.stem not in known and path.stat().st_mtime > recent):
                continue
            path.unlink(missing_ok=True)

    def kept(self, job_id: str) -> Path | None:
        """The file of a failed job that may be run again, if it is still kept."""
        if not self.folder.is_dir():
            return None
        return next(iter(sorted(self.folder.glob(f"{job_id}.*"))), None)

    def retry(self, job_id: str, account_id: str, department: str, client: YihaoClient) -> str:
        """Run a failed import of ``department`` again, as a new job over its kept file; the
        new job's id. FAILED_PRECONDITION when it did not fail or its file is no longer kept."""
        job = self.get(job_id, department)
        path = self.kept(job_id) if job is not None and job.state == "failed" else None
        if job is None or path is None:
            raise FailedPrecondition(
                "this import cannot be run again: it did not stop, it was run again already, "
                "or its file is no longer kept; send the file again",
                reason="NOT_RETRYABLE",
            )
        raw = path.read_bytes()
        new_id = self.start(account_id, department, client, job.file_name, raw)
        path.unlink(missing_ok=True)
        return new_id

    def _recover(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(BULK_JOBS)
                .where(BULK_JOBS.c.state.in_(("queued", "running")))
                .values(
                    state="failed",
                    finished_at=self.clock(),
                    error="the desk stopped during the import; run it again (what was stored "
                    "comes back as duplicate)",
                )
            )

    def start(
        self, account_id: str, department: str, client: YihaoClient, name: str, raw: bytes
    ) -> str:
        """Check the file (:func:`check_file` with :attr:`max_bytes`; a CSV header too) and
        start its import; returns the job's id. Nothing is sent for a file that is refused."""
        self._sweep()
        fmt, records = check_file(name, raw, self.max_bytes)
        job_id = uuid.uuid4().hex
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{job_id}.{fmt}"
        path.write_bytes(raw)
        try:
            items = read_records(path, fmt)  # a CSV header is read (and refused) at once
        except InvalidArgument as exc:
            path.unlink(missing_ok=True)
            rules = "; ".join(v.description for v in exc.violations) or exc.message
            raise _refuse(rules) from exc
        with self.engine.begin() as conn:
            conn.execute(
                insert(BULK_JOBS).values(
                    job_id=job_id,
                    account_id=account_id,
                    department=department,
                    file_name=Path(name).name[:200],
                    state="queued",
                    total=records,
                    done=0,
                    accepted=0,
                    duplicate=0,
                    rejected=0,
                    created_at=self.clock(),
                )
            )
        thread = threading.Thread(
            target=self._run, args=(job_id, path, items, client), name=f"bulk-{job_id[:8]}"
        )
        thread.daemon = True
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job_id

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the imports started so far to end (tests; a stopping desk)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _run(self, job_id: str, path: Path, items: Iterator[Any], client: YihaoClient) -> None:
        with self._slots:
            self._set(job_id, state="running")
            tally = Tally()
            flush = _Flush(self, job_id, tally)
            try:
                rejected: collections.deque[LocalRejection] = collections.deque()

                def records() -> Iterator[pb.ImportRecord]:
                    for item in items:
                        if isinstance(item, LocalRejection):
                            rejected.append(item)
                        else:
                            tally.sent += 1
                            yield item

                for batch in batches(records(), DEFAULT_BATCH):
                    for result in client.import_licences_resumable(batch):
                        flush.add(result)
                        while rejected:
                            flush.add(rejected.popleft().to_result(), local=True)
                while rejected:
                    flush.add(rejected.popleft().to_result(), local=True)
                flush.write()
                self._set(job_id, state="done", total=tally.done, finished_at=self.clock())
                path.unlink(missing_ok=True)  # a failed import keeps it, to be run again
            except (YihaoError, OSError) as exc:
                flush.write()
                message = exc.message if isinstance(exc, YihaoError) else str(exc)
                self._set(job_id, state="failed", error=message, finished_at=self.clock())
            except Exception as exc:  # never leave a job running for ever
                flush.write()
                error = f"unexpected failure ({type(exc).__name__})"
                self._set(job_id, state="failed", error=error, finished_at=self.clock())
                raise

    def _set(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(BULK_JOBS).where(BULK_JOBS.c.job_id == job_id).values(**values))

    def get(self, job_id: str, department: str) -> Job | None:
        """The job, if it is one of ``department``'s."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(BULK_JOBS).where(
                    BULK_JOBS.c.job_id == job_id, BULK_JOBS.c.department == department
                )
            ).first()
        return Job(**row._mapping) if row is not None else None

    def recent(self, department: str, limit: int = 10) -> list[Job]:
        """The department's latest imports, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(BULK_JOBS)
                .where(BULK_JOBS.c.department == department)
                .order_by(BULK_JOBS.c.created_at.desc())
                .limit(limit)
            ).all()
        return [Job(**r._mapping) for r in rows]

    def results(
        self, job_id: str, *, rejected_only: bool = False, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Each line's outcome, in line order."""
        stmt = select(BULK_RESULTS).where(BULK_RESULTS.c.job_id == job_id)
        if rejected_only:
            stmt = stmt.where(BULK_RESULTS.c.outcome == "rejected")
        stmt = stmt.order_by(BULK_RESULTS.c.line)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]


class _Flush:
    """Results gathered and written in batches, with the job's counters."""

    def __init__(self, jobs: BulkJobs, job_id: str, tally: Tally) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.tally = tally
        self.rows: list[dict[str, Any]] = []
        self.seen: set[int] = set()  # a line re-sent after a lost connection is answered again
        self.last = time.monotonic()

    def add(self, result: pb.ImportResult, local: bool = False) -> None:
        if result.line in self.seen:
            return
        self.seen.add(result.line)
        self.tally.count(result, local)
        self.rows.append(
            {
                "job_id": self.job_id,
                "line": result.line,
                "outcome": _OUTCOMES.get(result.outcome, "rejected"),
                "licence_id": result.licence_id,
                "reason_code": result.reason_code,
                "reason": result.reason,
            }
        )
        if len(self.rows) >= FLUSH_RESULTS or time.monotonic() - self.last >= FLUSH_SECONDS:
            self.write()

    def write(self) -> None:
        t = self.tally
        with self.jobs.engine.begin() as conn:
            if self.rows:
                conn.execute(insert(BULK_RESULTS), self.rows)
            conn.execute(
                update(BULK_JOBS)
                .where(BULK_JOBS.c.job_id == self.job_id)
                .values(
                    done=t.done,
                    accepted=t.accepted,
                    duplicate=t.duplicate,
                    rejected=t.rejected_local + t.rejected_remote,
                )
            )
        self.rows = []
        self.last = time.monotonic()
