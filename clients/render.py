"""Human output of the ``yihao`` command: licence cards and tables a clerk reads at a glance.

Chinese text is printed as is; columns are padded by display width (CJK characters take two
terminal cells). Machine output (``--json``) is :func:`to_json`, one message per line.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.message import Message

from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.vocabulary import CHINA_TZ

__all__ = [
    "department_card",
    "departments_table",
    "enum_name",
    "event_line",
    "events_table",
    "history_card",
    "licence_card",
    "licence_type_card",
    "licence_types_table",
    "licences_table",
    "table",
    "timestamp",
    "to_json",
]

#: Chinese glosses for the statuses a clerk reads out.
GLOSSES = {
    "active": "有效",
    "valid": "有效",
    "expired": "已过期",
    "not_yet_valid": "未生效",
    "suspended": "暂扣",
    "revoked": "吊销",
    "cancelled": "注销",
    "person": "自然人",
    "organisation": "法人和其他组织",
}


def to_json(message: Message) -> str:
    """One message as one line of proto-JSON, field names as in the .proto files."""
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def enum_name(enum_type: object, value: int) -> str:
    """``LICENCE_STATUS_ACTIVE`` → ``active``; unknown numbers are shown as such."""
    try:
        full: str = enum_type.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        return str(value)
    prefix = enum_type.DESCRIPTOR.name  # type: ignore[attr-defined]
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(prefix)).upper()
    return full.removeprefix(snake + "_").lower()


def glossed(name: str) -> str:
    """``suspended`` → ``suspended 暂扣``."""
    gloss = GLOSSES.get(name)
    return f"{name} {gloss}" if gloss else name


#: Every instant the command line prints for people is Beijing time (UTC+8), whatever the
#: machine's time zone: the time the dates, deadlines and receipt ids are in. Key-value views
#: say so after the time (:func:`when`), tables under the table (:data:`TIMES_NOTE`); JSON
#: output keeps ISO 8601 with its offset.
CHINA_TIME = "北京时间"
TIMES_NOTE = f"(times: {CHINA_TIME})"


def timestamp(ts: timestamp_pb2.Timestamp) -> str:
    """Beijing date and time, to the second; empty when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return ""
    return ts.ToDatetime(tzinfo=CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


def when(ts: timestamp_pb2.Timestamp) -> str:
    """:func:`timestamp` labelled ``北京时间``; empty when unset."""
    text = timestamp(ts)
    return f"{text} {CHINA_TIME}" if text else ""


# --- layout -----------------------------------------------------------------------------------


def width(text: str) -> int:
    """Terminal cells ``text`` takes (wide and full-width characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, cells: int) -> str:
    return text + " " * (cells - width(text))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain text table, columns padded to their widest cell; says so when empty."""
    all_rows = [list(headers), *([str(cell) for cell in row] for row in rows)]
    if len(all_rows) == 1:
        return "  ".join(headers) + "\n(none)"
    widths = [max(width(row[i]) for row in all_rows) for i in range(len(headers))]
    lines = [
        "  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in all_rows
    ]
    return "\n".join(lines)


def _card(pairs: Iterable[tuple[str, str]]) -> str:
    shown = [(key, value) for key, value in pairs if value]
    cells = max((width(key) for key, _ in shown), default=0)
    return "\n".join(f"{_pad(key, cells)}  {value}" for key, value in shown)


def _named(name: str, code: str) -> str:
    return f"{name} ({code})" if name and code else name or code


# --- licences ---------------------------------------------------------------------------------


def _status(licence: pb.Licence) -> str:
    effective = enum_name(common_pb2.EffectiveStatus, licence.effective_status)
    stored = enum_name(common_pb2.LicenceStatus, licence.status)
    text = glossed(effective)
    if stored != effective and not (stored == "active" and effective != "unspecified"):
        text += f" (administrative status: {glossed(stored)})"
    return text


def _reason(licence: pb.Licence) -> str:
    parts = [licence.status_reason_code, licence.status_reason_text]
    return " — ".join(part for part in parts if part)


def _holder(holder: common_pb2.Holder) -> str:
    kind = enum_name(common_pb2.HolderKind, holder.kind)
    parts = [holder.name, glossed(kind) if kind != "unspecified" else "", holder.number]
    return " · ".join(part for part in parts if part)


def _validity(valid_from: str, valid_until: str) -> str:
    return f"{valid_from or '?'} → {valid_until or 'no expiry 长期'}"


def _fields(fields: Mapping[str, str], labels: Mapping[str, str]) -> list[tuple[str, str]]:
    ordered = [name for name in labels if name in fields]
    ordered += sorted(name for name in fields if name not in labels)
    return [(f"  {labels[n]} {n}" if labels.get(n) else f"  {n}", fields[n]) for n in ordered]


def licence_card(licence: pb.Licence, labels: Mapping[str, str] | None = None) -> str:
    """Everything a counter clerk needs about one licence version."""
    version = f"{licence.version}  {when(licence.version_at)}".strip()
    pairs = [
        ("e-licence 电子证照", licence.licence_id),
        ("type 证照类型", _named(licence.type_name, licence.type_code)),
        ("number 证照编号", licence.licence_number),
        ("holder 持证主体", _holder(licence.holder)),
        ("issuer 颁发机构", _named(licence.issuer_name, licence.issuer_code)),
        ("valid 有效期", _validity(licence.valid_from, licence.valid_until)),
        ("status 状态", _status(licence)),
        ("reason 原因", _reason(licence)),
        ("version 版本", version),
        ("issued 签发", when(licence.issued_at)),
        ("signed by 签章", licence.signature.key_id),
    ]
    card = _card(pairs)
    if licence.fields:
        card += "\nfields 证照信息\n" + _card(_fields(licence.fields, labels or {}))
    return card


def licences_table(licences: Iterable[pb.Licence]) -> str:
    """A holder's licences, one row each."""
    rows = [
        (
            _named(lic.type_name, ""),
            lic.licence_number,
            glossed(enum_name(common_pb2.EffectiveStatus, lic.effective_status)),
            _validity(lic.valid_from, lic.valid_until),
            lic.issuer_name or lic.issuer_code,
            str(lic.version),
            lic.licence_id,
        )
        for lic in licences
    ]
    headers = ("TYPE", "NUMBER", "STATUS", "VALID", "ISSUER", "VER", "E-LICENCE")
    return table(headers, rows)


def _event_reason(event: pb.LicenceEvent) -> str:
    return " — ".join(part for part in (event.reason_code, event.reason_text) if part)


def _event_row(event: pb.LicenceEvent) -> tuple[str, ...]:
    return (
        str(event.cursor),
        timestamp(event.at),
        enum_name(pb.EventKind, event.kind),
        event.licence_id,
        str(event.version),
        event.actor_code,
        event.staff,
        _event_reason(event),
    )


_EVENT_HEADERS = ("CURSOR", "AT", "EVENT", "E-LICENCE", "VER", "BY", "STAFF", "REASON")


def events_table(events: Iterable[pb.LicenceEvent]) -> str:
    """Licence events, one row each."""
    rows = [_event_row(event) for event in events]
    return table(_EVENT_HEADERS, rows) + (f"\n{TIMES_NOTE}" if rows else "")


def event_line(event: pb.LicenceEvent) -> str:
    """One event on one line (for ``watch``, which cannot wait to align a table); the staff
    member is labelled, since without columns it could be taken for a reason code."""
    cells = list(_event_row(event))
    cells[_EVENT_HEADERS.index("AT")] = when(event.at)
    if event.staff:
        cells[_EVENT_HEADERS.index("STAFF")] = f"staff {event.staff}"
    return "  ".join(cell for cell in cells if cell)


def history_card(history: pb.LicenceHistory) -> str:
    """The versions of a licence, then what happened to it."""
    rows = [
        (
            str(v.version),
            timestamp(v.version_at),
            glossed(enum_name(common_pb2.LicenceStatus, v.status)),
            _validity(v.valid_from, v.valid_until),
            v.holder.name,
            v.licence_id,
        )
        for v in history.versions
    ]
    headers = ("VER", "AT", "STATUS", "VALID", "HOLDER", "E-LICENCE")
    versions = table(headers, rows) + (f"\n{TIMES_NOTE}" if rows else "")
    return f"versions 版本\n{versions}\n\nevents 事件\n{events_table(history.events)}"


# --- catalogue --------------------------------------------------------------------------------


def _roles(roles: Iterable[int]) -> str:
    return ", ".join(enum_name(common_pb2.Role, role) for role in roles)


def departments_table(departments: Iterable[pb.Department]) -> str:
    """Departments, one row each."""
    rows = [(d.credit_code, d.name, d.region, _roles(d.roles)) for d in departments]
    return table(("CREDIT CODE", "NAME", "REGION", "ROLES"), rows)


def department_card(department: pb.Department) -> str:
    """One department with its signing keys (newest first)."""
    card = _card(
        [
            ("credit code 统一社会信用代码", department.credit_code),
            ("name 名称", department.name),
            ("region 行政区划", department.region),
            ("roles 角色", _roles(department.roles)),
            ("registered 登记", when(department.registered_at)),
        ]
    )
    keys = [
        (k.key_id, k.algorithm, timestamp(k.valid_from), timestamp(k.valid_until) or "current")
        for k in department.signing_keys
    ]
    if keys:
        card += "\nsigning keys 签章密钥\n" + table(("KEY", "ALGORITHM", "FROM", "UNTIL"), keys)
        card += f"\n{TIMES_NOTE}"
    return card


def _validity_days(days: int) -> str:
    return f"{days} days" if days else "no expiry 长期"


def licence_types_table(types: Iterable[pb.LicenceType]) -> str:
    """Licence types, one row each."""
    rows = [
        (
            t.type_code,
            t.name,
            enum_name(common_pb2.HolderKind, t.holder_kind),
            _validity_days(t.default_validity_days),
            ", ".join(t.issuer_codes),
        )
        for t in types
    ]
    return table(("TYPE CODE", "NAME", "HOLDER", "VALIDITY", "ISSUERS"), rows)


def licence_type_card(licence_type: pb.LicenceType) -> str:
    """One licence type with its field schema."""
    t = licence_type
    card = _card(
        [
            ("type code 证照类型代码", t.type_code),
            ("name 名称", t.name),
            ("holder 持证主体", glossed(enum_name(common_pb2.HolderKind, t.holder_kind))),
            ("validity 默认有效期", _validity_days(t.default_validity_days)),
            ("issuers 颁发机构", ", ".join(t.issuer_codes)),
            ("defined by 定义机构", t.definer_code),
        ]
    )
    rows = [
        (
            f.name,
            f.label,
            enum_name(pb.FieldType, f.type),
            "yes" if f.required else "",
            "yes" if f.sensitive else "",
            str(f.max_length or ""),
        )
        for f in t.fields
    ]
    headers = ("FIELD", "LABEL", "TYPE", "REQUIRED", "SENSITIVE", "MAX")
    return card + "\nfields 字段\n" + table(headers, rows)
