"""JSON log lines: the fields, the department of the current call, masking, tracebacks."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.common import logformat
from services.common.config import ENVIRONMENT, load_settings
from services.common.errors import InvalidArgument
from services.common.grpc_errors import internal_status
from services.common.identity import Caller, acting_as
from services.common.logmask import MaskingFilter

HALL = "11350100MB0000000X"


@pytest.fixture
def json_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logformat.JsonFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_a_line_has_the_fields_and_the_calling_department(json_lines):
    with acting_as(Caller(HALL)):
        logging.getLogger("yihao.test").warning("holder %s read", "11010519491231002X")
    (line,) = json_lines()
    assert line["level"] == "WARNING" and line["logger"] == "yihao.test"
    assert line["message"] == "holder 110105********002X read"  # masked
    assert line["department"] == HALL
    assert line["timestamp"].endswith("+00:00")
    assert "trace_id" not in line  # tracing off


def test_an_internal_error_logs_its_correlation_id_and_masked_traceback(json_lines, monkeypatch):
    monkeypatch.setattr(logformat, "trace_id_provider", lambda: "ab" * 16)
    try:
        raise RuntimeError("boom 360426199101010071")
    except RuntimeError as exc:
        status = internal_status(exc, "/yihao.v1.Verifier/VerifyLicence")
    (line,) = [r for r in json_lines() if r["logger"] == "yihao.errors"]
    assert line["correlation_id"] == "ab" * 16 == line["trace_id"]
    assert "ab" * 16 in status.details
    assert "RuntimeError" in line["exception"] and "360426199101010071" not in line["exception"]


def test_the_format_is_read_from_the_environment():
    assert "YIHAO_LOG_FORMAT" in ENVIRONMENT
    assert load_settings({}).log_format == "text"
    assert load_settings({"YIHAO_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(InvalidArgument, match="YIHAO_LOG_FORMAT"):
        load_settings({"YIHAO_LOG_FORMAT": "xml"})
