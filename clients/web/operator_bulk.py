"""The operator desk's bulk import (批量导入): upload a file, watch its progress, download the
report.

``/operator/bulk`` — the upload form (JSON Lines or CSV, as ``yihao import`` reads them; at most
``YIHAO_WEB_IMPORT_MAX_BYTES``, :attr:`clients.web.config.WebSettings.import_max_bytes`) and
the department's latest imports; a bad file is refused whole with the line, column and rule
(:func:`clients.web.bulk_jobs.check_file`).
``/operator/bulk/<job>`` — the import's page: a progress bar that htmx refreshes every second
until it ends (``/progress``), the counts, the rejected lines; ``/report.csv`` — every line's
outcome; ``/retry`` (POST) — a failed import run again over its kept file, as a new job. The
upload and the retry act once per form (:mod:`clients.web.once`). Jobs are seen by the
operators of the department that started them.
"""

from __future__ import annotations

import csv
import io
import re
import threading

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from clients.web import once
from clients.web.auth import requires
from clients.web.bulk_jobs import BulkJobs, Job, size_words
from clients.web.desk import desk_of
from clients.web.operator import operator_client, posted
from clients.web.templating import render
from clients.web.viewmodels import Label, china_time
from yihao_shared.errors import FailedPrecondition, InvalidArgument

__all__ = ["ROUTES", "bulk_jobs"]

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_LOCK = threading.Lock()
#: Rejected lines shown on the page (the report has them all).
SHOWN = 50
_STATES = {
    "queued": Label("排队中", "waiting"),
    "running": Label("导入中", "importing"),
    "done": Label("已完成", "finished"),
    "failed": Label("已中止", "stopped"),
}


def bulk_jobs(request: Request) -> BulkJobs:
    """The desk's bulk imports (made on first use; jobs left running by a stopped desk are
    marked failed then)."""
    state = request.app.state
    with _LOCK:
        jobs: BulkJobs | None = getattr(state, "bulk_jobs", None)
        if jobs is None:
            desk = desk_of(request)
            folder = desk.settings.var_dir / "web-imports"
            limit = desk.settings.import_max_bytes
            jobs = state.bulk_jobs = BulkJobs(desk.engine, folder, desk.clock, limit)
    return jobs


def _job_view(job: Job) -> dict[str, object]:
    return {
        "id": job.job_id,
        "file_name": job.file_name,
        "state": job.state,
        "state_label": _STATES.get(job.state, Label(job.state, job.state)),
        "finished": job.finished,
        "total": job.total,
        "done": job.done,
        "percent": job.percent,
        "accepted": job.accepted,
        "duplicate": job.duplicate,
        "rejected": job.rejected,
        "error": job.error,
        "created": china_time(job.created_at),
        "who": job.account_id,
    }


def _form_page(
    request: Request, errors: dict[str, Label] | None = None, status: int = 200
) -> Response:
    department = request.state.account.department
    context = {
        "jobs": [_job_view(j) for j in bulk_jobs(request).recent(department)],
        "errors": errors or {},
        "max_size": size_words(bulk_jobs(request).max_bytes),
    }
    return render(request, "operator_bulk.html", context, status=status)


@requires("operator")
def bulk_page(request: Request) -> Response:
    """GET /operator/bulk: the upload form and the department's latest imports."""
    return _form_page(request)


def bulk_upload(request: Request) -> Response:
    """POST /operator/bulk: check the file and start its import, once per form."""
    form = request.state.form
    key = once.read_form_key(form.get(once.IDEMPOTENCY_FIELD))
    if key is None:
        words = Label("表单缺少提交编号，请刷新页面后重新提交。", "The form lacks its key: reload.")
        return _form_page(request, {"_form": words}, 400)
    upload = form.get("file")
    name = str(getattr(upload, "filename", "") or "")
    file = getattr(upload, "file", None)
    limit = bulk_jobs(request).max_bytes
    raw = file.read(limit + 1) if file is not None and name else b""
    account = request.state.account
    client = operator_client(request)
    desk = desk_of(request)
    jobs = bulk_jobs(request)

    def start() -> str:
        return jobs.start(account.account_id, account.department, client, name, raw)

    try:
        job_id, _ = once.run(desk.engine, key, account.account_id, start, clock=desk.clock)
    except InvalidArgument as exc:
        rule = exc.violations[0].description if exc.violations else exc.message
        error = Label(f"文件不符合要求：{_zh(rule)}", f"file: {rule}")
        return _form_page(request, {"file": error}, 400)
    return RedirectResponse(f"/operator/bulk/{job_id}", status_code=303)


def _zh(rule: str) -> str:
    """The Chinese words for the rules a file can break (the English names the detail)."""
    for marker, words in (
        ("choose a file", "请选择文件"),
        ("the desk takes at most", "文件过大"),
        ("must end in", "文件须为 .csv 或 .jsonl（JSON Lines）"),
        ("not UTF-8", "须为 UTF-8 编码"),
        ("missing column", "缺少必需的列"),
        ("unknown column", "有无法识别的列"),
        ("duplicate column", "列名重复"),
        ("no header", "缺少表头"),
        ("no records", "没有任何记录"),
    ):
        if marker in rule:
            return words
    return "不符合要求"


def _job(request: Request) -> Job:
    job_id = str(request.path_params["job_id"])
    if not _JOB_ID.match(job_id):
        raise HTTPException(404)
    job = bulk_jobs(request).get(job_id, request.state.account.department)
    if job is None:
        raise HTTPException(404)
    return job


def _progress_context(request: Request, job: Job) -> dict[str, object]:
    jobs = bulk_jobs(request)
    rejected = jobs.results(job.job_id, rejected_only=True, limit=SHOWN)
    retryable = job.state == "failed" and jobs.kept(job.job_id) is not None
    return {
        "job": _job_view(job),
        "rejected": rejected if job.finished else [],
        "shown": SHOWN,
        "retryable": retryable,
        "form_key": once.form_key() if retryable else "",
        "key_field": once.IDEMPOTENCY_FIELD,
    }


@requires("operator")
def job_page(request: Request) -> Response:
    """GET /operator/bulk/{job_id}: the import's progress (refreshed by htmx) and outcome."""
    job = _job(request)
    return render(request, "operator_bulk_job.html", _progress_context(request, job))


@requires("operator")
def job_progress(request: Request) -> Response:
    """GET /operator/bulk/{job_id}/progress: the progress panel alone (htmx polls it)."""
    job = _job(request)
    return render(request, "_operator_bulk_progress.html", _progress_context(request, job))


def job_retry(request: Request) -> Response:
    """POST /operator/bulk/{job_id}/retry: run a failed import again (once per form)."""
    job = _job(request)
    key = once.read_form_key(request.state.form.get(once.IDEMPOTENCY_FIELD))
    if key is None:
        raise HTTPException(400)
    account = request.state.account
    client = operator_client(request)
    desk = desk_of(request)
    jobs = bulk_jobs(request)

    def run() -> str:
        return jobs.retry(job.job_id, account.account_id, account.department, client)

    try:
        new_id, _ = once.run(desk.engine, key, account.account_id, run, clock=desk.clock)
    except FailedPrecondition as exc:
        raise HTTPException(409, "not_retryable") from exc
    return RedirectResponse(f"/operator/bulk/{new_id}", status_code=303)


def _cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # not a spreadsheet formula


@requires("operator")
def job_report(request: Request) -> Response:
    """GET /operator/bulk/{job_id}/report.csv: every line's outcome (line, outcome, licence id,
    reason code, reason), as ``yihao import`` reports them."""
    job = _job(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["line", "outcome", "licence_id", "reason_code", "reason"])
    for r in bulk_jobs(request).results(job.job_id):
        writer.writerow(
            [r["line"], r["outcome"], r["licence_id"], _cell(r["reason_code"]), _cell(r["reason"])]
        )
    name = f"import-{job.job_id[:8]}-report.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so a spreadsheet reads the Chinese as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [
    Route("/operator/bulk", bulk_page, methods=["GET"]),
    Route("/operator/bulk", posted(bulk_upload), methods=["POST"]),
    Route("/operator/bulk/{job_id}", job_page, methods=["GET"]),
    Route("/operator/bulk/{job_id}/progress", job_progress, methods=["GET"]),
    Route("/operator/bulk/{job_id}/report.csv", job_report, methods=["GET"]),
    Route("/operator/bulk/{job_id}/retry", posted(job_retry), methods=["POST"]),
]
