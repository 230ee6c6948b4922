"""Bulk imports at the operator desk (clients/web/bulk_jobs.py, operator_bulk.py) without a
server: a bad file is refused whole naming line, column and rule; a good one runs in the
background with its progress and per-line outcomes kept; the report escapes formulas; a job
left running by a stopped desk is marked failed."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from clients.web.app import create_app
from clients.web.bulk_jobs import KEEP_SECONDS, MAX_BYTES, BulkJobs, check_file, size_words
from clients.web.db import BULK_JOBS, open_database
from tests.clients.web.conftest import csrf_of, sign_in
from tests.clients.web.fake_operator import TYPE_CODE, FakeOperator
from yihao_shared.errors import FailedPrecondition, InvalidArgument, Unavailable

HEADER = "type_code,licence_number,holder_number,holder_name,field.registered_capital"


def _csv(*numbers: str) -> bytes:
    rows = [f"{TYPE_CODE},{n},91350100M000100Y43,甲公司,100" for n in numbers]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@pytest.mark.parametrize(
    ("name", "raw", "rule"),
    [
        ("", b"x", "choose a file"),
        ("a.xlsx", b"x", "a.xlsx must end in .csv, .jsonl, .json or .ndjson"),
        ("a.csv", b"x" * (MAX_BYTES + 1), "the desk takes at most 20 MiB"),
        ("a.csv", HEADER.encode() + b"\n\xff\xfe,1\n", "line 2, column 1: not UTF-8"),
        ("a.csv", "名称\n甲".encode() + b"\xb8", "line 2, column 2: not UTF-8"),
        ("a.jsonl", b"\n  \n", "holds no records"),
        ("a.csv", HEADER.encode() + b"\n", "holds no records under its header"),
    ],
)
def test_a_bad_file_names_the_rule(name: str, raw: bytes, rule: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_file(name, raw)
    assert refused.value.violations[0].field == "file"
    assert rule in refused.value.violations[0].description


def test_the_limit_is_the_one_given() -> None:
    raw = _csv("1", "2")
    assert check_file("a.csv", raw, len(raw)) == ("csv", 2)
    with pytest.raises(InvalidArgument) as refused:
        check_file("a.csv", raw, len(raw) - 1)
    words = refused.value.violations[0].description
    assert f"is {len(raw)} bytes; the desk takes at most {len(raw) - 1} bytes" in words
    assert [size_words(n) for n in (900, 1536, 20 * 2**20)] == ["900 bytes", "1.5 KiB", "20 MiB"]


def test_the_desk_takes_files_up_to_its_configured_limit(
    web_settings, clock, backend, tmp_path
) -> None:
    limit = len(_csv("A1"))  # one record fits, two do not
    settings = web_settings.with_overrides(import_max_bytes=limit)
    app = create_app(settings, clock=clock, backend=backend)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "operator")

        def upload(raw: bytes) -> Any:
            page = client.get("/operator/bulk").text
            assert f"at most {limit} bytes" in page
            key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page)
            assert key is not None
            form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1)}
            return client.post("/operator/bulk", data=form, files={"file": ("a.csv", raw)})

        refused = upload(_csv("A1", "A2"))
        assert refused.status_code == 400 and "文件过大" in refused.text
        assert f"the desk takes at most {limit} bytes" in refused.text
        assert upload(_csv("A1")).status_code == 303
        app.state.bulk_jobs.wait(10)
    app.state.desk.close()


def test_a_good_file_counts_its_records() -> None:
    assert check_file("a.csv", _csv("1", "2")) == ("csv", 2)
    assert check_file("a.jsonl", b'{"a": 1}\n\n{"b": 2}\n') == ("jsonl", 2)


def test_a_job_runs_in_the_background_and_keeps_each_lines_outcome(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    jobs = BulkJobs(engine, tmp_path / "imports", lambda: 1000.0)
    raw = _csv("A1", "BAD2", "A3") + f"{TYPE_CODE},,x,y,1\n".encode()  # line 5: no number
    job_id = jobs.start("operator", "D", FakeOperator(), "licences.csv", raw)  # type: ignore[arg-type]
    jobs.wait(10)
    job = jobs.get(job_id, "D")
    assert job is not None and job.state == "done" and job.percent == 100
    assert (job.total, job.done, job.accepted, job.rejected) == (4, 4, 2, 2)
    outcomes = [(r["line"], r["outcome"], r["reason_code"]) for r in jobs.results(job_id)]
    assert outcomes == [
        (2, "accepted", ""),
        (3, "rejected", "INVALID"),
        (4, "accepted", ""),
        (5, "rejected", "INVALID_RECORD"),
    ]
    assert jobs.get(job_id, "another department") is None
    assert list((tmp_path / "imports").iterdir()) == []  # the upload is not kept


def test_a_csv_header_problem_is_refused_before_anything_is_stored(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    jobs = BulkJobs(engine, tmp_path / "imports", lambda: 1000.0)
    with pytest.raises(InvalidArgument, match="missing column"):
        jobs.start("operator", "D", FakeOperator(), "a.csv", b"type_code,field.x\n1,2\n")  # type: ignore[arg-type]
    assert jobs.recent("D") == []


def test_a_job_left_running_by_a_stopped_desk_is_marked_failed(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    jobs = BulkJobs(engine, tmp_path / "imports", lambda: 1000.0)
    job_id = jobs.start("operator", "D", FakeOperator(), "a.csv", _csv("A1"))  # type: ignore[arg-type]
    jobs.wait(10)
    jobs._set(job_id, state="running")  # as if the desk stopped mid-import
    again = BulkJobs(engine, tmp_path / "imports", lambda: 2000.0)
    job = again.get(job_id, "D")
    assert job is not None and job.state == "failed" and "run it again" in str(job.error)


class Down(FakeOperator):
    """The licence store unreachable before any record is answered."""

    def import_licences_resumable(self, records, **_):  # type: ignore[no-untyped-def]
        yield from ()
        raise Unavailable("licence store unreachable")


def test_a_failed_import_runs_again_once_over_its_kept_file(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    jobs = BulkJobs(engine, tmp_path / "imports", lambda: 1000.0)
    failed_id = jobs.start("operator", "D", Down(), "licences.csv", _csv("A1", "A3"))  # type: ignore[arg-type]
    jobs.wait(10)
    assert jobs.get(failed_id, "D").state == "failed"  # type: ignore[union-attr]
    kept = jobs.kept(failed_id)
    assert kept is not None and kept.read_bytes() == _csv("A1", "A3")
    with pytest.raises(FailedPrecondition):
        jobs.retry(failed_id, "operator", "another department", FakeOperator())  # type: ignore[arg-type]

    again_id = jobs.retry(failed_id, "operator2", "D", FakeOperator())  # type: ignore[arg-type]
    jobs.wait(10)
    again = jobs.get(again_id, "D")
    assert again is not None and again.state == "done" and again.file_name == "licences.csv"
    assert (again.accepted, again.account_id) == (2, "operator2")
    assert list((tmp_path / "imports").iterdir()) == []  # run, then not kept
    with pytest.raises(FailedPrecondition, match="run again already"):
        jobs.retry(failed_id, "operator", "D", FakeOperator())  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition):  # a finished import is not run again
        jobs.retry(again_id, "operator", "D", FakeOperator())  # type: ignore[arg-type]


def test_a_failed_imports_file_is_deleted_after_a_day(tmp_path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'web.db'}")
    now = [1000.0]
    jobs = BulkJobs(engine, tmp_path / "imports", lambda: now[0])
    failed_id = jobs.start("operator", "D", Down(), "a.csv", _csv("A1"))  # type: ignore[arg-type]
    jobs.wait(10)
    stray = tmp_path / "imports" / f"{'b' * 32}.csv"  # a file no job owns, written long ago
    stray.write_bytes(b"x")
    os.utime(stray, (1.0, 1.0))
    now[0] += KEEP_SECONDS - 60
    BulkJobs(engine, tmp_path / "imports", lambda: now[0])  # a desk starting: a sweep
    assert jobs.kept(failed_id) is not None and not stray.exists()
    now[0] += 120
    BulkJobs(engine, tmp_path / "imports", lambda: now[0])
    assert jobs.kept(failed_id) is None
    with pytest.raises(FailedPrecondition, match="no longer kept"):
        jobs.retry(failed_id, "operator", "D", FakeOperator())  # type: ignore[arg-type]


def test_upload_page_report_and_acting_once(desk_client, backend) -> None:
    sign_in(desk_client, "operator")
    page = desk_client.get("/operator/bulk").text
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page)
    assert key is not None
    form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1)}
    files = {"file": ("licences.csv", _csv("A1", "BAD2"), "text/csv")}
    first = desk_client.post("/operator/bulk", data=form, files=files)
    second = desk_client.post("/operator/bulk", data=form, files=files)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]  # one import, not two
    job_path = first.headers["location"]
    app = desk_client.app  # type: ignore[attr-defined]
    app.state.bulk_jobs.wait(10)
    progress = desk_client.get(f"{job_path}/progress").text
    assert 'data-state="done"' in progress and "hx-get" not in progress  # polling stops
    report = desk_client.get(f"{job_path}/report.csv")
    assert report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    lines = report.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "line,outcome,licence_id,reason_code,reason"
    assert lines[2] == "3,rejected,,INVALID,'=HYPERLINK(1)"  # no formula for a spreadsheet
    assert desk_client.get("/operator/bulk/" + "0" * 32).status_code == 404


def test_a_refused_upload_names_the_file_field(desk_client) -> None:
    sign_in(desk_client, "operator")
    page = desk_client.get("/operator/bulk").text
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page)
    assert key is not None
    form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1)}
    files = {"file": ("licences.txt", b"abc", "text/plain")}
    refused = desk_client.post("/operator/bulk", data=form, files=files)
    assert refused.status_code == 400 and 'id="e-file"' in refused.text
    assert "文件须为 .csv" in refused.text and "must end in" in refused.text


def test_a_running_import_is_polled_and_one_the_services_stop_says_why(desk_client) -> None:
    sign_in(desk_client, "operator")
    desk_client.get("/operator/bulk")
    jobs = desk_client.app.state.bulk_jobs  # type: ignore[attr-defined]
    with jobs.engine.begin() as conn:
        conn.execute(
            BULK_JOBS.insert().values(
                job_id="a" * 32,
                account_id="operator",
                department="1135010052601815X2",
                file_name="big.csv",
                state="running",
                total=200,
                done=50,
                accepted=50,
                duplicate=0,
                rejected=0,
                created_at=1.0,
            )
        )
    running = desk_client.get(f"/operator/bulk/{'a' * 32}/progress").text
    assert 'hx-get="/operator/bulk/' in running and 'hx-trigger="every 1s"' in running
    assert 'value="25"' in running and 'id="report"' not in running  # 50 of 200

    job_id = jobs.start("operator", "1135010052601815X2", Down(), "a.csv", _csv("A1"))
    jobs.wait(10)
    failed = desk_client.get(f"/operator/bulk/{job_id}").text
    assert 'data-state="failed"' in failed and "licence store unreachable" in failed

    # run it again from its page: a new job over the kept file, once per form
    assert 'id="retry"' in failed
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', failed)
    assert key is not None
    form = {"csrf_token": csrf_of(failed), "idempotency_key": key.group(1)}
    without_csrf = desk_client.post(
        f"/operator/bulk/{job_id}/retry", data={"idempotency_key": key.group(1)}
    )
    assert without_csrf.status_code == 403
    first = desk_client.post(f"/operator/bulk/{job_id}/retry", data=form)
    second = desk_client.post(f"/operator/bulk/{job_id}/retry", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"] != f"/operator/bulk/{job_id}"
    jobs.wait(10)
    done = desk_client.get(first.headers["location"]).text
    assert 'data-state="done"' in done and 'id="retry"' not in done
    assert 'id="retry"' not in desk_client.get(f"/operator/bulk/{job_id}").text  # its file went
    fresh_page = desk_client.get(f"/operator/bulk/{job_id}").text
    form = {"csrf_token": csrf_of(fresh_page), "idempotency_key": "c" * 32}
    refused = desk_client.post(f"/operator/bulk/{job_id}/retry", data=form)
    assert refused.status_code == 409 and "无法再次导入" in refused.text
