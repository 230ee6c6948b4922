"""The counter desk's forms: what the desk checks before calling the services.

Each check returns a :class:`FormCheck` — the values as typed (trimmed) and an error per field
that names the field and the rule, Chinese first. The services check the rest (a holder
number's check character, a purpose for a person's data) and their field violations are put
beside the same fields (:func:`clients.web.viewmodels_counter.field_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from clients.web.viewmodels import Label
from clients.web.viewmodels_counter import licence_input_kind
from yihao.v1 import verifier_pb2 as vpb

__all__ = [
    "DOCUMENT_FIELDS",
    "HOLDER_FIELDS",
    "MATERIALS_FIELDS",
    "MAX_DOCUMENT_BYTES",
    "VERIFY_FIELDS",
    "FormCheck",
    "check_document",
    "check_holder",
    "check_materials",
    "check_verify",
    "values_of",
]

_WHY = ("purpose", "case_number")
VERIFY_FIELDS = ("licence", "holder_number", "holder_name", *_WHY)
HOLDER_FIELDS = ("holder_number", "holder_name", "valid_only", *_WHY)
DOCUMENT_FIELDS = ("holder_number", "holder_name", *_WHY)
MATERIALS_FIELDS = ("item", "holder_number", *_WHY)
#: The verifier refuses a document's content over 256 KiB; the file may be a little larger.
MAX_DOCUMENT_BYTES = 300 * 1024
#: field -> most characters (a QR payload is a few hundred; a licence reference far less).
_LONGEST = {
    "licence": 2048,
    "holder_number": 64,
    "holder_name": 200,
    "purpose": 200,
    "case_number": 64,
    "item": 64,
}
_NAMES = {
    "licence": Label("证照编号", "licence"),
    "holder_number": Label("证件号码", "holder number"),
    "holder_name": Label("名称", "holder name"),
    "purpose": Label("查询目的", "purpose"),
    "case_number": Label("办件编号", "case number"),
    "item": Label("办事事项", "service item"),
    "types": Label("证照类型", "licence types"),
    "document": Label("电子证照文件", "signed document"),
}


@dataclass
class FormCheck:
    """The form's values (trimmed strings) and its errors by field."""

    values: dict[str, str]
    errors: dict[str, Label] = field(default_factory=dict)

    def refuse(self, name: str, zh: str, en: str) -> None:
        """Record that field ``name`` breaks a rule (the first rule broken is shown)."""
        label = _NAMES[name]
        self.errors.setdefault(name, Label(f"{label.zh}：{zh}", f"{label.en}: {en}"))


def values_of(form: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """The named text fields of a posted form, trimmed (a missing or file field is "")."""
    values = {}
    for name in names:
        raw = form.get(name, "")
        values[name] = raw.strip() if isinstance(raw, str) else ""
    return values


def _lengths(check: FormCheck) -> None:
    for name, value in check.values.items():
        longest = _LONGEST.get(name)
        if longest is not None and len(value) > longest:
            check.refuse(name, f"最多 {longest} 个字符", f"at most {longest} characters")


def _required(check: FormCheck, name: str) -> None:
    if not check.values.get(name):
        check.refuse(name, "必填", "is required")


def check_verify(values: dict[str, str]) -> FormCheck:
    """The verification form: a licence reference (or QR payload) is required."""
    check = FormCheck(values)
    _required(check, "licence")
    if values["licence"] and licence_input_kind(values["licence"]) == "bad":
        check.refuse(
            "licence",
            "须为“类型代码:证照编号”、电子证照标识（1.2.156.3005.2.…）或亮证二维码（YH1.…）",
            "must be TYPE_CODE:NUMBER, an e-licence identifier (1.2.156.3005.2.…) or a "
            "scanned QR payload (YH1.…)",
        )
    _lengths(check)
    return check


def check_holder(values: dict[str, str], chosen: list[str]) -> FormCheck:
    """Verify by holder: the applicant's number and at least one licence type."""
    check = FormCheck(values)
    _required(check, "holder_number")
    if not chosen:
        check.refuse("types", "至少选择一种", "choose at least one")
    elif len(chosen) > 50:
        check.refuse("types", "最多选择 50 种", "at most 50")
    _lengths(check)
    return check


def check_materials(values: dict[str, str], items: list[dict[str, str]]) -> FormCheck:
    """Materials exemption: a service item from the list and the applicant's number."""
    check = FormCheck(values)
    _required(check, "item")
    if values["item"] and values["item"] not in {i["code"] for i in items}:
        check.refuse("item", "须从列表中选择", "must be one of the listed items")
    _required(check, "holder_number")
    _lengths(check)
    return check


def check_document(
    values: dict[str, str], upload: Any
) -> tuple[FormCheck, vpb.SignedDocument | None]:
    """A presented signed document: a JSON file as ``yihao export`` writes it."""
    check = FormCheck(values)
    _lengths(check)
    read = getattr(upload, "read", None)
    file = getattr(upload, "file", None)
    if read is None or file is None or not getattr(upload, "filename", ""):
        check.refuse("document", "请选择文件", "choose the file")
        return check, None
    raw = file.read(MAX_DOCUMENT_BYTES + 1)
    if len(raw) > MAX_DOCUMENT_BYTES:
        check.refuse(
            "document",
            f"文件最大 {MAX_DOCUMENT_BYTES // 1024} KiB",
            f"at most {MAX_DOCUMENT_BYTES // 1024} KiB",
        )
        return check, None
    try:
        document = json_format.Parse(raw.decode("utf-8"), vpb.SignedDocument())
    except (UnicodeDecodeError, ValueError, json_format.ParseError):
        check.refuse(
            "document",
            "须为导出的电子证照文件（JSON，含 content_json 与 signature）",
            "must be an exported signed document (JSON with content_json and signature)",
        )
        return check, None
    if not document.content_json or not document.HasField("signature"):
        check.refuse(
            "document", "缺少 content_json 或 signature", "content_json and signature are required"
        )
        return check, None
    return check, document
