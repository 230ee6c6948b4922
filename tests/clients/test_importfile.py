"""Reading import files: JSON Lines and CSV, with the mess real exports contain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.importfile import (
    LocalRejection,
    _jsonl_items,
    _lines,
    detect_format,
    read_records,
)
from services.common.errors import InvalidArgument
from services.licence_store.demo import BUSINESS_LICENCE
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb

T = BUSINESS_LICENCE.type_code


def write(tmp_path: Path, name: str, text: str, *, bom: bool = False, crlf: bool = False) -> Path:
    path = tmp_path / name
    if crlf:
        text = text.replace("\n", "\r\n")
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def jsonl(*records: object) -> str:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
    )


GOOD = {
    "type_code": T,
    "licence_number": "350100-0001",
    "holder_kind": "organisation",
    "holder_number": "91350100M000100Y43",
    "holder_name": "福州示例科技有限公司",
    "valid_from": "2024-01-01",
    "fields": {"legal_representative": "王芳", "address": "福州市鼓楼区示例路1号"},
}


def test_jsonl_record_in_full(tmp_path) -> None:
    (record,) = read_records(write(tmp_path, "a.jsonl", jsonl(GOOD)))
    assert record == pb.ImportRecord(
        line=1,
        licence=pb.IssueLicenceRequest(
            idempotency_key=f"import:{T}:350100-0001",
            type_code=T,
            licence_number="350100-0001",
            holder=common_pb2.Holder(
                kind=common_pb2.HOLDER_KIND_ORGANISATION,
                number="91350100M000100Y43",
                name="福州示例科技有限公司",
            ),
            fields={"legal_representative": "王芳", "address": "福州市鼓楼区示例路1号"},
            valid_from="2024-01-01",
        ),
    )


def test_jsonl_with_bom_crlf_and_blank_lines_keeps_file_line_numbers(tmp_path) -> None:
    text = jsonl(GOOD, "", "   ", {**GOOD, "licence_number": "2"})
    items = list(read_records(write(tmp_path, "a.json", text, bom=True, crlf=True)))
    assert [item.line for item in items] == [1, 4]
    assert items[1].licence.holder.name == "福州示例科技有限公司"


def test_numbers_and_booleans_are_kept_as_written(tmp_path) -> None:
    fields = '{"capital": 1000.50, "staff": 12, "listed": false, "big": 1e3}'
    text = f'{{"type_code": "{T}", "licence_number": 42, "fields": {fields}}}\n'
    (record,) = read_records(write(tmp_path, "a.jsonl", text))
    assert record.licence.licence_number == "42"
    assert dict(record.licence.fields) == {
        "capital": "1000.50",
        "staff": "12",
        "listed": "false",
        "big": "1e3",
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a JSON object but an array"),
        ('{"licence_number": "1"}', "type_code missing"),
        ('{"type_code": "T"}', "licence_number missing"),
        (
            '{"type_code": "T", "licence_number": "1", "fields": {"x": null}}',
            "fields.x: must be a string, number or boolean, got null",
        ),
        ('{"type_code": "T", "licence_number": "1", "fields": {"x": [1]}}', "got an array"),
        ('{"type_code": "T", "licence_number": "1", "fields": {"x": {"y": 1}}}', "got an object"),
        ('{"type_code": "T", "licence_number": "1", "fields": ["x"]}', "fields: must be an object"),
        ('{"type_code": "T", "licence_number": true}', "licence_number: must be a string"),
        (
            '{"type_code": "T", "licence_number": "1", "holder_kind": "robot"}',
            "holder_kind: must be person or organisation",
        ),
        ('{"type_code": "T", "licence_number": "1", "feilds": {}}', "unknown key(s) feilds"),
        ('{"type_code": "T", "licence_number": NaN}', "NaN is not allowed"),
    ],
)
def test_bad_lines_become_local_rejections_and_do_not_stop_the_rest(tmp_path, line, reason):
    text = jsonl(GOOD) + line + "\n" + jsonl({**GOOD, "licence_number": "3"})
    first, bad, third = read_records(write(tmp_path, "a.jsonl", text))
    assert isinstance(bad, LocalRejection)
    assert bad.line == 2
    assert reason in bad.reason
    assert (first.line, third.line) == (1, 3)
    assert bad.to_result().outcome == pb.IMPORT_OUTCOME_REJECTED


def test_invalid_utf8_rejects_only_its_line(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(jsonl(GOOD).encode() + b'{"type_code": "\xff"}\n' + jsonl(GOOD).encode())
    items = list(read_records(path))
    assert isinstance(items[1], LocalRejection) and items[1].reason == "not valid UTF-8"
    assert [type(i) for i in (items[0], items[2])] == [pb.ImportRecord, pb.ImportRecord]


def test_explicit_key_and_holder_kind_spellings(tmp_path) -> None:
    text = jsonl(
        {**GOOD, "idempotency_key": "batch-7-row-1", "holder_kind": "PERSON"},
        {**GOOD, "holder_kind": "organization"},
        {**GOOD, "holder_kind": "HOLDER_KIND_ORGANISATION"},
        {**GOOD, "holder_kind": None},
    )
    items = list(read_records(write(tmp_path, "a.jsonl", text)))
    assert items[0].licence.idempotency_key == "batch-7-row-1"
    assert [i.licence.holder.kind for i in items] == [
        common_pb2.HOLDER_KIND_PERSON,
        common_pb2.HOLDER_KIND_ORGANISATION,
        common_pb2.HOLDER_KIND_ORGANISATION,
        common_pb2.HOLDER_KIND_UNSPECIFIED,
    ]


CSV_HEADER = (
    "type_code,licence_number,holder_number,holder_name,valid_until,"
    "field.legal_representative,fields.business_scope\n"
)


def test_csv_with_bom_crlf_quotes_and_blank_lines(tmp_path) -> None:
    text = CSV_HEADER + (
        f'{T},FZ-1,91350100M000100Y43,"福州示例科技有限公司",,王芳,"软件开发, 信息咨询"\n'
        "\n"
        f'{T},FZ-2,91350100M000100Y43,福州乙公司,2030-12-31,李四,"第一行\n第二行"\n'
        f"{T},FZ-3,91350100M000100Y43,福州丙公司,,张三,\n"
    )
    items = list(read_records(write(tmp_path, "a.csv", text, bom=True, crlf=True)))
    assert [i.line for i in items] == [2, 4, 6]  # header is line 1; FZ-2 spans lines 4-5
    first, second, third = (i.licence for i in items)
    assert dict(first.fields) == {
        "legal_representative": "王芳",
        "business_scope": "软件开发, 信息咨询",
    }
    assert first.valid_until == "" and second.valid_until == "2030-12-31"
    assert second.fields["business_scope"] == "第一行\r\n第二行"
    assert dict(third.fields) == {"legal_representative": "张三"}  # empty cell = absent
    assert third.idempotency_key == f"import:{T}:FZ-3"


def test_csv_bad_rows_are_rejected_by_line(tmp_path) -> None:
    text = CSV_HEADER + f"{T},FZ-1,X,甲,,王,软件\n{T},FZ-2,X\n,FZ-3,X,丙,,王,软件\n"
    items = list(read_records(write(tmp_path, "a.csv", text)))
    assert isinstance(items[0], pb.ImportRecord)
    assert (items[1].line, items[1].reason) == (3, "expected 7 columns, got 3")
    assert (items[2].line, items[2].reason) == (4, "type_code missing")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("", "no header"),
        ("type_code,licence_number,colour\n", "unknown column 'colour'"),
        ("type_code,holder_name\n", "missing column(s) ['licence_number']"),
        ("type_code,licence_number,field.a,fields.a\n", "duplicate column(s) ['field.a']"),
    ],
)
def test_csv_header_problems_are_raised_before_anything_is_read(tmp_path, header, problem):
    with pytest.raises(InvalidArgument) as caught:
        read_records(write(tmp_path, "a.csv", header + ("x,y\n" if header else "")))
    assert problem in caught.value.message


def test_format_from_suffix_or_explicit(tmp_path) -> None:
    assert detect_format(Path("x.JSONL")) == "jsonl"
    assert detect_format(Path("x.ndjson")) == "jsonl"
    assert detect_format(Path("x.csv")) == "csv"
    assert detect_format(Path("x.txt"), "csv") == "csv"
    for path, fmt in ((Path("x.txt"), None), (Path("x.csv"), "xml")):
        with pytest.raises(InvalidArgument):
            detect_format(path, fmt)
    csv_named_txt = write(tmp_path, "a.txt", CSV_HEADER + f"{T},1,X,甲,,王,软件\n")
    assert next(read_records(csv_named_txt, "csv")).licence.licence_number == "1"


def test_missing_file_is_invalid_argument(tmp_path) -> None:
    with pytest.raises(InvalidArgument, match="cannot read"):
        read_records(tmp_path / "nope.jsonl")


class EndlessFile:
    """A binary 'file' that never ends: reading it whole would never return."""

    def __init__(self) -> None:
        self.lines_read = 0

    def __enter__(self) -> EndlessFile:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __iter__(self):
        while True:
            self.lines_read += 1
            yield json.dumps({**GOOD, "licence_number": str(self.lines_read)}).encode() + b"\n"


def test_records_are_read_lazily() -> None:
    file = EndlessFile()
    items = _jsonl_items(_lines(file))  # type: ignore[arg-type]
    assert [next(items).line for _ in range(3)] == [1, 2, 3]
    assert file.lines_read == 3
