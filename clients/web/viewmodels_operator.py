"""The operator desk's view models (证照管理): forms built from a licence type's field schema,
the services' field violations put beside their inputs, a licence and its events as shown.

No HTTP and no gRPC calls here: plain functions over the services' messages, unit-tested
without a server. Conventions as everywhere at the desk: Chinese first with English beside
it, holder numbers masked (the operator did not type them on this page), China time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clients.web.viewmodels import FLASH, Label, china_time, mask_number
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import FieldViolation

__all__ = [
    "ACTIONS",
    "ISSUE_FIELDS",
    "Action",
    "Input",
    "changed_fields",
    "event_rows",
    "form_errors",
    "issue_inputs",
    "licence_view",
    "schema_inputs",
]

#: The issue form's own inputs (besides the type's data fields, named ``fields.<name>``).
ISSUE_FIELDS = ("licence_number", "holder_number", "holder_name", "valid_from", "valid_until")
#: The services' field paths that the forms name otherwise.
_PATHS = {"holder.number": "holder_number", "holder.name": "holder_name"}
#: Strings allowed to be longer than this (the schema's default) get a text area.
_AREA_FROM = 512


@dataclass(frozen=True)
class Input:
    """One input of a form: its name, label, kind and rules (as the schema says)."""

    name: str
    label: Label
    kind: str  # text | date | integer | decimal | boolean | area | select
    required: bool = False
    max_length: int = 0
    hint: Label | None = None
    options: tuple[tuple[str, Label], ...] = ()

    @property
    def inputmode(self) -> str:
        """The keyboard a tablet should offer."""
        return {"integer": "numeric", "decimal": "decimal"}.get(self.kind, "text")


_KINDS = {
    pb.FIELD_TYPE_STRING: "text",
    pb.FIELD_TYPE_DATE: "date",
    pb.FIELD_TYPE_INTEGER: "integer",
    pb.FIELD_TYPE_DECIMAL: "decimal",
    pb.FIELD_TYPE_BOOLEAN: "boolean",
}
_HINTS = {
    "date": Label("选择或输入日期", "pick or type the date"),
    "integer": Label("整数，如 12", "a whole number, e.g. 12"),
    "decimal": Label("数字，如 1000.50", "a plain decimal number, e.g. 1000.50"),
}
_YES_NO = (
    ("", Label("（未填）", "(not set)")),
    ("true", Label("是", "yes")),
    ("false", Label("否", "no")),
)


def schema_inputs(licence_type: pb.LicenceType, *, change: bool = False) -> list[Input]:
    """The type's data fields as inputs (``fields.<name>``): a date picker for a date, a
    number keyboard for numbers, yes/no for a boolean, a text area for long text. In a change
    form nothing is required (only what is changed is sent)."""
    inputs = []
    for spec in licence_type.fields:
        kind = _KINDS.get(spec.type, "text")
        limit = spec.max_length or 512
        if kind == "text" and limit > _AREA_FROM:
            kind = "area"
        inputs.append(
            Input(
                name=f"fields.{spec.name}",
                label=Label(spec.label or spec.name, spec.name),
                kind=kind,
                required=spec.required and not change,
                max_length=limit if kind in ("text", "area") else 0,
                hint=_HINTS.get(kind),
                options=_YES_NO if kind == "boolean" else (),
            )
        )
    return inputs


def issue_inputs(licence_type: pb.LicenceType) -> list[Input]:
    """The issue form: licence number, holder, validity, then the type's data fields."""
    person = licence_type.holder_kind == common_pb2.HOLDER_KIND_PERSON
    number_hint = (
        Label("18 位公民身份号码", "the 18-character citizen ID number")
        if person
        else Label("18 位统一社会信用代码", "the 18-character unified social credit code")
    )
    days = licence_type.default_validity_days
    until_hint = (
        Label(f"留空则为起始日加 {days} 天", f"empty: valid_from + {days} days")
        if days
        else Label("留空则长期有效", "empty: no expiry")
    )
    return [
        Input("licence_number", Label("证照编号", "licence number"), "text", True, 64),
        Input(
            "holder_number", Label("持证主体代码", "holder number"), "text", True, 18, number_hint
        ),
        Input("holder_name", Label("持证主体名称", "holder name"), "text", True, 200),
        Input(
            "valid_from",
            Label("有效期起", "valid from"),
            "date",
            False,
            0,
            Label("留空则为今天", "empty: today"),
        ),
        Input("valid_until", Label("有效期至", "valid until"), "date", False, 0, until_hint),
        *schema_inputs(licence_type),
    ]


_RULES = {
    "REQUIRED": "必填",
    "DATE_FORMAT": "日期格式须为 YYYY-MM-DD",
    "DECIMAL_FORMAT": "须为数字，如 1000.50",
    "INTEGER_FORMAT": "须为整数",
    "BOOLEAN_FORMAT": "须为“是”或“否”",
    "DATE_RANGE": "日期超出允许范围",
    "REASON_CODE": "须从列表中选择",
    "TOO_LONG": "过长",
}


def form_errors(violations: Iterable[FieldViolation], inputs: Iterable[Input]) -> dict[str, Label]:
    """The services' violations by form input (``holder.number`` → ``holder_number``,
    ``fields.x`` stays), each naming the field and the rule (the service's words in English,
    the field's label and the rule in Chinese); one naming no input of the form goes under
    ``_form`` with the service's field path."""
    labels = {i.name: i.label for i in inputs}
    errors: dict[str, Label] = {}
    for v in violations:
        name = _PATHS.get(v.field, v.field)
        rule = _RULES.get(v.reason, "不符合要求")
        if name not in labels:
            name = "_form"
            text = Label(f"{v.field}：{rule}", f"{v.field}: {v.description}")
        else:
            text = Label(f"{labels[name].zh}：{rule}", f"{labels[name].en}: {v.description}")
        if name in errors:
            old = errors[name]
            errors[name] = Label(f"{old.zh}；{text.zh}", f"{old.en}; {text.en}")
        else:
            errors[name] = text
    return errors


def changed_fields(current: Mapping[str, str], posted: Mapping[str, str]) -> dict[str, str]:
    """The data fields the change form alters: a value that differs from the licence's now
    (an emptied optional field is sent empty, which removes it)."""
    return {name: value for name, value in posted.items() if current.get(name, "") != value}


# --- a licence and its actions -------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """A lifecycle act on the licence page: its path, title, and the reasons it accepts."""

    key: str
    label: Label
    reasons: tuple[tuple[str, Label], ...] = ()
    sources: tuple[int, ...] = ()  # stored statuses it may start from
    final: bool = False  # ends the licence for good: the form asks the operator to confirm


_WORDS = {
    "INVESTIGATION": Label("立案调查", "investigation"),
    "VIOLATION": Label("违法违规", "violation"),
    "COURT_ORDER": Label("司法裁定", "court order"),
    "HOLDER_REQUEST": Label("持证人申请", "holder's request"),
    "INVESTIGATION_CLOSED": Label("调查终结", "investigation closed"),
    "RECTIFIED": Label("已整改", "rectified"),
    "SUSPENDED_IN_ERROR": Label("误暂扣", "suspended in error"),
    "FRAUD": Label("欺诈取得", "fraud"),
    "HOLDER_DECEASED": Label("持证人死亡", "holder deceased"),
    "HOLDER_DISSOLVED": Label("持证主体已注销或解散", "holder dissolved"),
    "REPLACED": Label("已换发新证", "replaced by a new licence"),
    "ISSUED_IN_ERROR": Label("错误发证", "issued in error"),
    "NOT_RENEWED": Label("有效期届满未延续", "expired, not renewed"),
    "OTHER": Label("其他（须说明）", "other (say why)"),
}
_A, _S = common_pb2.LICENCE_STATUS_ACTIVE, common_pb2.LICENCE_STATUS_SUSPENDED


def _reasons(*codes: str) -> tuple[tuple[str, Label], ...]:
    return tuple((c, _WORDS[c]) for c in codes)


#: The acts of the licence page. The reason lists mirror the store's closed lists (the store
#: checks them; an unknown code comes back as a violation beside ``reason_code``).
ACTIONS: dict[str, Action] = {
    "change": Action("change", Label("变更", "Change"), (), (_A, _S)),
    "renew": Action("renew", Label("延续", "Renew"), (), (_A,)),
    "suspend": Action(
        "suspend",
        Label("暂扣", "Suspend"),
        _reasons("INVESTIGATION", "VIOLATION", "COURT_ORDER", "HOLDER_REQUEST", "OTHER"),
        (_A,),
    ),
    "reinstate": Action(
        "reinstate",
        Label("恢复", "Reinstate"),
        _reasons("INVESTIGATION_CLOSED", "RECTIFIED", "COURT_ORDER", "SUSPENDED_IN_ERROR", "OTHER"),
        (_S,),
    ),
    "revoke": Action(
        "revoke",
        Label("吊销", "Revoke"),
        _reasons("VIOLATION", "FRAUD", "COURT_ORDER", "OTHER"),
        (_A, _S),
        final=True,
    ),
    "cancel": Action(
        "cancel",
        Label("注销", "Cancel"),
        _reasons(
            "HOLDER_REQUEST",
            "HOLDER_DECEASED",
            "HOLDER_DISSOLVED",
            "REPLACED",
            "ISSUED_IN_ERROR",
            "NOT_RENEWED",
            "OTHER",
        ),
        (_A, _S),
        final=True,
    ),
}

#: What the operator ticks before an act that ends the licence for good (revoke, cancel).
CONFIRM = Label("我确认：此操作办理后不能恢复", "I confirm: this cannot be undone")
NOT_CONFIRMED = Label("请勾选确认后再提交", "Tick the confirmation first: nothing was done.")

_STATUS: dict[int, tuple[str, Label]] = {
    common_pb2.LICENCE_STATUS_ACTIVE: ("active", Label("有效", "active")),
    common_pb2.LICENCE_STATUS_SUSPENDED: ("suspended", Label("暂扣", "suspended")),
    common_pb2.LICENCE_STATUS_REVOKED: ("revoked", Label("已吊销", "revoked")),
    common_pb2.LICENCE_STATUS_CANCELLED: ("cancelled", Label("已注销", "cancelled")),
}
_EVENTS: dict[int, Label] = {
    pb.EVENT_KIND_ISSUED: Label("签发", "issued"),
    pb.EVENT_KIND_CHANGED: Label("变更", "changed"),
    pb.EVENT_KIND_RENEWED: Label("延续", "renewed"),
    pb.EVENT_KIND_SUSPENDED: Label("暂扣", "suspended"),
    pb.EVENT_KIND_REINSTATED: Label("恢复", "reinstated"),
    pb.EVENT_KIND_REVOKED: Label("吊销", "revoked"),
    pb.EVENT_KIND_CANCELLED: Label("注销", "cancelled"),
}


def _status(status: int) -> tuple[str, Label]:
    return _STATUS.get(status, ("unknown", Label("未知", "unknown")))


def licence_view(lic: pb.Licence, licence_type: pb.LicenceType | None) -> dict[str, Any]:
    """A licence as the operator page shows it: its facts, its data fields with their
    labels, and the acts its status allows."""
    labels = {f.name: f.label for f in licence_type.fields} if licence_type else {}
    key, status = _status(lic.status)
    return {
        "licence_id": lic.licence_id,
        "ref": f"{lic.type_code}:{lic.licence_number}",
        "type_name": lic.type_name,
        "number": lic.licence_number,
        "holder_number": mask_number(lic.holder.number),
        "holder_name": lic.holder.name,
        "valid_from": lic.valid_from,
        "valid_until": lic.valid_until or "长期 no expiry",
        "version": lic.version,
        "status_key": key,
        "status": status,
        "reason": " ".join(x for x in (lic.status_reason_code, lic.status_reason_text) if x),
        "fields": [(Label(labels.get(n, n), n), v) for n, v in sorted(lic.fields.items())],
        "actions": [
            a
            for a in ACTIONS.values()
            if lic.status in a.sources and (a.key != "renew" or lic.valid_until)
        ],  # a licence without an end of validity has nothing to renew
    }


def event_rows(
    events: Iterable[pb.LicenceEvent], type_names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Events as table rows: when, what, which licence (its identifier: no personal number),
    who (department and staff member), the reason, the status after."""
    rows = []
    for e in events:
        rows.append(
            {
                "cursor": e.cursor,
                "at": china_time(e.at.seconds + e.at.nanos / 1e9),
                "kind": _EVENTS.get(e.kind, Label("未知", "unknown")),
                "licence_id": e.licence_id,
                "type_name": type_names.get(e.type_code, e.type_code),
                "version": e.version,
                "actor": e.actor_code,
                "staff": e.staff,
                "reason": " ".join(x for x in (e.reason_code, e.reason_text) if x),
                "status": _status(e.status_after)[1],
            }
        )
    return rows


# Messages the operator desk's redirects show (see viewmodels.FLASH: only known keys).
FLASH.update(
    {
        "op_done": ("info", Label("已办理并保存。", "Done and stored.")),
        "op_once": (
            "warning",
            Label(
                "此表单已提交过，未再次办理；下面是第一次办理的结果。",
                "This form was already sent: nothing was done again; this is the first result.",
            ),
        ),
    }
)
