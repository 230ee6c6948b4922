"""Reading bulk-import files (JSON Lines or CSV) into ``ImportRecord`` messages, streaming.

One record per JSON Lines line, or per CSV row under a header. The keys (JSON) or columns
(CSV) of a record::

    type_code, licence_number        required
    holder_number, holder_name       the holder (持证主体)
    holder_kind                      optional: person | organisation (default: the type's)
    valid_from, valid_until          optional, YYYY-MM-DD
    idempotency_key                  optional; default "import:<type_code>:<licence_number>",
                                     so importing the same file again creates nothing new
    fields                           JSON: an object of the licence data fields
    field.<name> (or fields.<name>)  CSV: one column per licence data field; empty = absent

Field values may be strings, numbers (kept exactly as written: ``1000.50`` stays "1000.50")
or booleans ("true"/"false"). A record that cannot be read — bad JSON or UTF-8, not an
object, a field value that is null, a list or an object, a missing type_code or
licence_number — becomes a :class:`LocalRejection` with its line number and reason, and the
others go on. Line numbers are 1-based lines of the file (in CSV the header is line 1, and a
row with a quoted line break counts from its first line). A UTF-8 BOM and CRLF line ends are
accepted, blank lines skipped. Problems with the CSV header itself raise
:class:`~yihao_shared.errors.InvalidArgument` before any record is read.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import InvalidArgument

__all__ = [
    "FORMATS",
    "LocalRejection",
    "RecordError",
    "build_record",
    "detect_format",
    "read_records",
]

FORMATS = ("jsonl", "csv")
_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
TOP_LEVEL_KEYS = (
    "idempotency_key",
    "type_code",
    "licence_number",
    "holder_kind",
    "holder_number",
    "holder_name",
    "valid_from",
    "valid_until",
)
_FIELD_PREFIXES = ("field.", "fields.")
_HOLDER_KINDS = {
    "": common_pb2.HOLDER_KIND_UNSPECIFIED,
    "person": common_pb2.HOLDER_KIND_PERSON,
    "organisation": common_pb2.HOLDER_KIND_ORGANISATION,
    "organization": common_pb2.HOLDER_KIND_ORGANISATION,
}


@dataclass(frozen=True)
class LocalRejection:
    """A record refused before it was sent: where, and why."""

    line: int
    reason: str
    reason_code: str = "INVALID_RECORD"

    def to_result(self) -> pb.ImportResult:
        """The same, as an ``ImportResult`` (so it reads like a server-side rejection)."""
        return pb.ImportResult(
            line=self.line,
            outcome=pb.IMPORT_OUTCOME_REJECTED,
            reason_code=self.reason_code,
            reason=self.reason,
        )


#: What reading a file yields: a record to send, or a line refused here.
Item = pb.ImportRecord | LocalRejection


class RecordError(ValueError):
    """One record cannot be built; the message says why."""

    def __init__(self, reason: str, reason_code: str = "INVALID_RECORD") -> None:
        super().__init__(reason)
        self.reason_code = reason_code


# --- one record -------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    names = {type(None): "null", list: "an array", dict: "an object", bool: "a boolean"}
    return names.get(type(value), type(value).__name__)


def _text(key: str, value: object) -> str:
    """A top-level value as text; numbers arrive as their JSON text already."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"{key}: must be a string, got {_json_type(value)}")
    return value.strip()


def _field_value(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        raise RecordError(
            f"fields.{name}: must be a string, number or boolean, got {_json_type(value)} "
            "(leave the field out instead)"
        )
    return value


def _holder_kind(text: str) -> common_pb2.HolderKind:
    kind = _HOLDER_KINDS.get(text.lower().removeprefix("holder_kind_"))
    if kind is None:
        raise RecordError(f"holder_kind: must be person or organisation, got {text!r}")
    return kind


def _fields(fields: object) -> dict[str, str]:
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise RecordError(f"fields: must be an object, got {_json_type(fields)}")
    return {str(name): _field_value(str(name), value) for name, value in fields.items()}


def build_record(line: int, top: Mapping[str, object], fields: object) -> pb.ImportRecord:
    """An ``ImportRecord`` from top-level values and the data fields; raises RecordError."""
    unknown = sorted(set(top) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise RecordError(f"unknown key(s) {', '.join(unknown)}")
    text = {key: _text(key, top.get(key)) for key in TOP_LEVEL_KEYS}
    missing = [key for key in ("type_code", "licence_number") if not text[key]]
    if missing:
        raise RecordError(f"{' and '.join(missing)} missing")
    key = text["idempotency_key"] or f"import:{text['type_code']}:{text['licence_number']}"
    holder = common_pb2.Holder(
        kind=_holder_kind(text["holder_kind"]),
        number=text["holder_number"],
        name=text["holder_name"],
    )
    request = pb.IssueLicenceRequest(
        idempotency_key=key,
        type_code=text["type_code"],
        licence_number=text["licence_number"],
        holder=holder,
        fields=_fields(fields),
        valid_from=text["valid_from"],
        valid_until=text["valid_until"],
    )
    return pb.ImportRecord(line=line, licence=request)


# --- the file ---------------------------------------------------------------------------------


def detect_format(path: Path, format: str | None = None) -> str:
    """``format`` if given, else the one the file name's suffix implies."""
    if format is not None:
        if format not in FORMATS:
            raise InvalidArgument.field("format", f"must be one of {', '.join(FORMATS)}")
        return format
    detected = _SUFFIXES.get(path.suffix.lower())
    if detected is None:
        raise InvalidArgument.field(
            "format", f"cannot tell the format of {path.name}; say --format jsonl or csv"
        )
    return detected


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise InvalidArgument.field("file", f"cannot read {path}: {exc.strerror or exc}") from exc


def _lines(file: BinaryIO) -> Iterator[str]:
    """The file's lines, line ends kept; bytes that are not UTF-8 become lone surrogates
    (so one bad line is rejected, not the whole file)."""
    with file:
        for number, raw in enumerate(file, 1):
            text = raw.decode("utf-8", "surrogateescape")
            yield text.removeprefix("\ufeff") if number == 1 else text


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reject(reason: str, code: str = "UNPARSEABLE_LINE") -> NoReturn:
    raise RecordError(reason, code)


def _bad_constant(name: str) -> NoReturn:
    _reject(f"not valid JSON: {name} is not allowed")


def _json_record(line: int, text: str) -> pb.ImportRecord:
    if not _is_utf8(text):
        _reject("not valid UTF-8")
    try:
        data = json.loads(text, parse_int=str, parse_float=str, parse_constant=_bad_constant)
    except json.JSONDecodeError as exc:
        _reject(f"not valid JSON: {exc.msg} at column {exc.colno}")
    if not isinstance(data, dict):
        _reject(f"not a JSON object but {_json_type(data)}")
    fields = data.pop("fields", None)
    return build_record(line, data, fields)


def _jsonl_items(lines: Iterable[str]) -> Iterator[Item]:
    for line, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            yield _json_record(line, text)
        except RecordError as exc:
            yield LocalRejection(line, str(exc), exc.reason_code)


@dataclass(frozen=True)
class _CsvHeader:
    """Which column is which: top-level key or data field, by position."""

    columns: tuple[tuple[str, bool], ...]  # (name, is a data field)

    @classmethod
    def parse(cls, names: list[str] | None) -> _CsvHeader:
        if not names:
            raise InvalidArgument.field("header", "line 1: the CSV file has no header")
        columns = tuple(cls._column(name.strip()) for name in names)
        cls._check(columns)
        return cls(columns)

    @staticmethod
    def _column(name: str) -> tuple[str, bool]:
        for prefix in _FIELD_PREFIXES:
            if name.startswith(prefix) and len(name) > len(prefix):
                return name[len(prefix) :], True
        if name not in TOP_LEVEL_KEYS:
            raise InvalidArgument.field(
                "header",
                f"line 1: unknown column {name!r}; data fields are named field.<name>",
            )
        return name, False

    @staticmethod
    def _check(columns: tuple[tuple[str, bool], ...]) -> None:
        seen = [("field." if is_field else "") + name for name, is_field in columns]
        dupes = sorted({name for name in seen if seen.count(name) > 1})
        missing = [key for key in ("type_code", "licence_number") if key not in seen]
        if dupes or missing:
            problem = f"duplicate column(s) {dupes}" if dupes else f"missing column(s) {missing}"
            raise InvalidArgument.field("header", f"line 1: {problem}")

    def record(self, line: int, row: list[str]) -> pb.ImportRecord:
        if len(row) != len(self.columns):
            _reject(f"expected {len(self.columns)} columns, got {len(row)}", "INVALID_RECORD")
        if not all(_is_utf8(cell) for cell in row):
            _reject("not valid UTF-8")
        top: dict[str, object] = {}
        fields: dict[str, str] = {}
        for (name, is_field), value in zip(self.columns, row, strict=True):
            if not is_field:
                top[name] = value
            elif value:
                fields[name] = value
        return build_record(line, top, fields)


def _csv_rows(
    reader: Iterator[list[str]], line_num: Callable[[], int]
) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """``(first line, row)`` per CSV row, or the ``csv.Error`` that row raised."""
    last = line_num()
    while True:
        try:
            row: list[str] | csv.Error = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            row = exc
        first, last = last + 1, line_num()
        yield first, row


def _csv_items(
    reader: Iterator[list[str]], header: _CsvHeader, line_num: Callable[[], int]
) -> Iterator[Item]:
    for line, row in _csv_rows(reader, line_num):
        if isinstance(row, csv.Error):
            yield LocalRejection(line, f"not valid CSV: {row}", "UNPARSEABLE_LINE")
            continue
        if not any(cell.strip() for cell in row):
            continue
        try:
            yield header.record(line, row)
        except RecordError as exc:
            yield LocalRejection(line, str(exc), exc.reason_code)


def read_records(path: Path, format: str | None = None) -> Iterator[Item]:
    """The records of the file at ``path``, lazily: ``ImportRecord`` or ``LocalRejection``.

    Opening the file and reading a CSV header happen at once, so their errors
    (``InvalidArgument``) come before anything is sent.
    """
    fmt = detect_format(path, format)
    lines = _lines(_open(path))
    if fmt == "jsonl":
        return _jsonl_items(lines)
    reader = csv.reader(lines)
    try:
        header = _CsvHeader.parse(next(reader, None))
    except csv.Error as exc:
        raise InvalidArgument.field("header", f"line 1: {exc}") from exc
    return _csv_items(reader, header, lambda: reader.line_num)
