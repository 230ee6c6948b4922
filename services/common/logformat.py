"""Log lines as JSON (``YIHAO_LOG_FORMAT=json``): one object per line for log collectors.

Each line holds ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, and when
known ``trace_id`` (the current OpenTelemetry trace, when tracing is on), ``correlation_id``
(the one an INTERNAL answer quotes) and ``department`` (the calling department's credit code:
public, an organisation's, never a person's). An exception's traceback goes in ``exception``.
The masking filter runs before the formatter, so the message and traceback are masked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from services.common.identity import _current

#: Returns the current trace id (32 hex digits) or None; tracing replaces it when enabled.
trace_id_provider: Callable[[], str | None] = lambda: None  # noqa: E731

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", None) or trace_id_provider()
        if trace_id:
            line["trace_id"] = trace_id
        correlation_id = getattr(record, "correlation_id", None)
        if correlation_id:
            line["correlation_id"] = correlation_id
        caller = _current.get()
        if caller is not None:
            line["department"] = caller.code
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter for ``log_format`` ("text" or "json")."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
