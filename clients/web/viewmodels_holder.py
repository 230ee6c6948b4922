"""The holder page's view models: my licences, 亮证, who used my data, my consents.

Plain functions, no HTTP and no gRPC calls: they turn what the services answer into dicts the
templates show, Chinese first with English beside, times in China time; and they check the
consent form before it is sent (every error names the field and the rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clients.log_proof import InclusionCheck
from clients.web.viewmodels import Label, china_time
from clients.web.viewmodels_supervision import access_rows
from yihao.v1 import common_pb2 as cpb
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import InvalidArgument

__all__ = [
    "GRANT_FIELDS",
    "GrantForm",
    "check_grant_form",
    "consent_rows",
    "grant_errors",
    "licence_rows",
    "proof_view",
    "record_rows",
]

#: effective status -> (key, label, tone) — the licence's verdict now, as the store sees it.
_STATUS: dict[int, tuple[str, Label, str]] = {
    cpb.EFFECTIVE_STATUS_VALID: ("valid", Label("有效", "VALID"), "ok"),
    cpb.EFFECTIVE_STATUS_EXPIRED: ("expired", Label("已过期", "EXPIRED"), "bad"),
    cpb.EFFECTIVE_STATUS_NOT_YET_VALID: ("not_yet_valid", Label("未生效", "NOT YET VALID"), "bad"),
    cpb.EFFECTIVE_STATUS_SUSPENDED: ("suspended", Label("暂扣", "SUSPENDED"), "bad"),
    cpb.EFFECTIVE_STATUS_REVOKED: ("revoked", Label("吊销", "REVOKED"), "bad"),
    cpb.EFFECTIVE_STATUS_CANCELLED: ("cancelled", Label("注销", "CANCELLED"), "bad"),
}
_UNKNOWN = ("unknown", Label("未知", "UNKNOWN"), "cannot")
_CONSENT_STATES: dict[int, tuple[str, Label]] = {
    pb.CONSENT_STATE_ACTIVE: ("active", Label("有效", "active")),
    pb.CONSENT_STATE_EXPIRED: ("expired", Label("已过期", "expired")),
    pb.CONSENT_STATE_REVOKED: ("revoked", Label("已撤回", "revoked")),
}
_OUTCOMES: dict[str, Label] = {
    "USED": Label("已使用", "used"),
    "CONSENT_EXPIRED": Label("被拒：授权已过期", "refused: expired"),
    "CONSENT_REVOKED": Label("被拒：授权已撤回", "refused: revoked"),
    "CONSENT_WRONG_DEPARTMENT": Label("被拒：非被授权部门", "refused: another department"),
    "CONSENT_WRONG_MATTER": Label("被拒：事项或办件不符", "refused: another matter"),
    "CONSENT_WRONG_TYPE": Label("被拒：证照类型不符", "refused: another licence type"),
    "CONSENT_WRONG_HOLDER": Label("被拒：他人的授权", "refused: another holder's grant"),
    "CONSENT_SIGNATURE_INVALID": Label("被拒：授权签名无效", "refused: signature invalid"),
}


def _seconds(stamp: Any) -> float | None:
    if stamp is None or (not stamp.seconds and not stamp.nanos):
        return None
    return float(stamp.seconds) + float(stamp.nanos) / 1e9


def _when(stamp: Any) -> str:
    seconds = _seconds(stamp)
    return china_time(seconds) if seconds is not None else ""


def licence_rows(licences: Iterable[pb.Licence]) -> list[dict[str, Any]]:
    """My licences, each with its verdict now (the store's effective status at the answer)."""
    rows = []
    for lic in licences:
        key, label, tone = _STATUS.get(lic.effective_status, _UNKNOWN)
        rows.append(
            {
                "licence_id": lic.licence_id,
                "type_name": lic.type_name or lic.type_code,
                "type_code": lic.type_code,
                "number": lic.licence_number,
                "issuer": lic.issuer_name or lic.issuer_code,
                "valid_from": lic.valid_from,
                "valid_until": lic.valid_until or "—",
                "status_key": key,
                "status": label,
                "tone": tone,
                "showable": key == "valid",
            }
        )
    return rows


def record_rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Who used my data, newest first, each with the log entry that covers it."""
    records = list(records)
    rows = access_rows(records)
    for row, record in zip(rows, records, strict=True):
        row["log_ref"] = record.log_ref
    return rows


_PROOF_REASONS: dict[str, Label] = {
    "INCLUDED": Label(
        "已核实：该记录所在的日志条目包含在签名日志中。",
        "Checked: the log entry covering this record is in the signed log.",
    ),
    "LOG_ENTRY_NOT_FOUND": Label("日志中没有此条目。", "The log has no such entry."),
    "NOT_YET_IN_SIGNED_HEAD": Label(
        "条目尚未进入已签名的日志头，请稍后再试。",
        "The entry is not yet under a signed head; try again shortly.",
    ),
    "TREE_HEAD_SIGNATURE_INVALID": Label(
        "日志头签名无效：日志不可信。", "The log head's signature does not hold: do not trust it."
    ),
    "LEAF_HASH_MISMATCH": Label(
        "条目哈希不符：日志不可信。", "The entry's hash does not match: do not trust it."
    ),
    "NOT_INCLUDED": Label(
        "包含证明不成立：日志不可信。", "The inclusion proof fails: do not trust the log."
    ),
}


def proof_view(check: InclusionCheck) -> dict[str, Any]:
    """The outcome of an inclusion check, for the row's result cell."""
    label = _PROOF_REASONS.get(check.reason, Label(check.reason, check.reason))
    return {
        "ok": check.ok,
        "reason": check.reason,
        "label": label,
        "leaf_index": check.leaf_index,
        "tree_size": check.tree_size,
        "root": check.root_hex[:16],
        "key_id": check.head_key_id,
    }


def consent_rows(
    grants: Iterable[pb.ConsentGrant],
    departments: Mapping[str, str],
    types: Mapping[str, str],
) -> list[dict[str, Any]]:
    """My consents, newest first, with every use and refused attempt."""
    rows = []
    for g in grants:
        key, label = _CONSENT_STATES.get(g.state, ("unknown", Label("未知", "unknown")))
        rows.append(
            {
                "grant_id": g.grant_id,
                "department": departments.get(g.department_code, g.department_code),
                "types": [types.get(t, t) for t in g.type_codes],
                "licence_id": g.licence_id,
                "item_code": g.item_code,
                "case_number": g.case_number,
                "granted_at": _when(g.granted_at),
                "expires_at": _when(g.expires_at),
                "revoked_at": _when(g.revoked_at),
                "granted_by": g.granted_by,
                "revoked_by": g.revoked_by,
                "state_key": key,
                "state": label,
                "uses": [
                    {
                        "at": _when(u.at),
                        "department": departments.get(u.department_code, u.department_code),
                        "what": u.what,
                        "outcome_key": u.outcome,
                        "outcome": _OUTCOMES.get(u.outcome, Label(u.outcome, u.outcome)),
                    }
                    for u in g.uses
                ],
            }
        )
    return rows


# --- the grant form ----------------------------------------------------------------------------

GRANT_FIELDS = ("department", "licence", "item_code", "case_number", "valid_days")
_MAX_DAYS = 365  # the services refuse beyond their own maximum (YIHAO_CONSENT_MAX_DAYS)
_LONGEST = {"item_code": 64, "case_number": 64}
_NAMES = {
    "department": Label("被授权部门", "department"),
    "types": Label("证照类型", "licence types"),
    "licence": Label("一本证照", "one licence"),
    "item_code": Label("事项编码", "item code"),
    "case_number": Label("办件编号", "case number"),
    "valid_days": Label("有效天数", "days valid"),
}


@dataclass
class GrantForm:
    """The grant form as typed, and its errors by field."""

    values: dict[str, str]
    types: list[str]
    errors: dict[str, Label] = field(default_factory=dict)

    def refuse(self, name: str, zh: str, en: str) -> None:
        """Field ``name`` breaks a rule (the first one broken is shown)."""
        label = _NAMES.get(name, Label(name, name))
        self.errors.setdefault(name, Label(f"{label.zh}：{zh}", f"{label.en}: {en}"))


def check_grant_form(
    values: dict[str, str],
    types: Sequence[str],
    departments: Iterable[str],
    type_codes: Iterable[str],
    licences: Iterable[str] = (),
) -> GrantForm:
    """What the desk checks before granting: a listed department; what it covers — listed
    types (one or more) or one of the holder's own ``licences``, not both; a matter (item code
    and/or case number); a whole number of days."""
    form = GrantForm(values, list(types))
    if not values.get("department"):
        form.refuse("department", "必填", "is required")
    elif values["department"] not in set(departments):
        form.refuse("department", "须从列表中选择", "must be one of the listed departments")
    known, licence = set(type_codes), values.get("licence", "")
    if licence and types:
        form.refuse("licence", "与证照类型二选一", "choose licence types or one licence, not both")
    elif licence and licence not in set(licences):
        form.refuse("licence", "须从您的证照中选择", "must be one of your licences")
    elif not licence and not types:
        form.refuse("types", "至少选择一种，或选择一本证照", "choose at least one, or one licence")
    elif any(t not in known for t in types):
        form.refuse("types", "须从列表中选择", "must be among the listed types")
    if not values.get("item_code") and not values.get("case_number"):
        form.refuse(
            "case_number",
            "事项编码与办件编号至少填写一项",
            "give the item code, the case number, or both (the matter)",
        )
    for name, longest in _LONGEST.items():
        if len(values.get(name, "")) > longest:
            form.refuse(name, f"最多 {longest} 个字符", f"at most {longest} characters")
    days = values.get("valid_days", "")
    if not days.isdigit() or not 1 <= int(days) <= _MAX_DAYS:
        form.refuse("valid_days", f"须为 1 到 {_MAX_DAYS} 的整数", f"a whole number 1-{_MAX_DAYS}")
    return form


#: The services' field paths -> the form's fields.
_SERVICE_FIELDS = {
    "department_code": "department",
    "item_code": "item_code",
    "case_number": "case_number",
    "valid_days": "valid_days",
    "expires_at": "valid_days",
    "type_codes": "types",
    "licence_id": "licence",
}


def grant_errors(error: InvalidArgument) -> dict[str, Label]:
    """The services' refusal of a grant, by form field (``_form`` for the rest)."""
    errors: dict[str, Label] = {}
    for v in error.violations:
        name = _SERVICE_FIELDS.get(v.field.split("[")[0], "_form")
        label = _NAMES.get(name, Label("授权", "consent"))
        text = f"{v.description} ({v.reason})" if v.reason else v.description
        errors.setdefault(name, Label(f"{label.zh}：{text}", f"{label.en}: {text}"))
    if not errors:
        errors["_form"] = Label(error.message, error.message)
    return errors
