"""View models of the supervision room (电子监察): plain functions from the services' answers
(the ``Supervise`` report, a request, the log's signed head, health) to what its templates
and charts show. No HTTP and no gRPC calls here; unit-tested without a server.

Definitions the page states beside its figures:

* **open** (在办) — requests a provider received and has neither answered nor refused;
  **overdue** (超期) — open past their deadline (the report lists these one by one).
* **on-time rate** (按时答复率) — of the requests submitted in a month and answered, the share
  answered by their deadline; **refusal rate** (拒绝率) — of those decided, the share refused.
  A month with nothing decided has no point (a gap, not a zero).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from clients.web.viewmodels import FLASH, Label, china_time, mask_number

__all__ = [
    "HEAD_STALE_SECONDS",
    "SERVICES",
    "access_errors",
    "access_rows",
    "figures_rows",
    "filter_overdue",
    "head_view",
    "month_periods",
    "overdue_rows",
    "request_view",
    "timeline",
    "trends",
    "urge_errors",
    "violation_errors",
]

#: A signed head older than this is flagged: heads are signed as the log grows (every
#: ``YIHAO_TREE_HEAD_SECONDS``, default 60), so an old head means no act was logged since —
#: or that signing stopped; the panel says to check which.
HEAD_STALE_SECONDS = 15 * 60
#: The gRPC health names the panel asks about ("" = the server as a whole).
SERVICES: tuple[tuple[str, Label], ...] = (
    ("", Label("服务器", "Server")),
    ("yihao.v1.LicenceStore", Label("证照库", "Licence store")),
    ("yihao.v1.Verifier", Label("核验服务", "Verifier")),
    ("yihao.v1.Assistance", Label("行政协助", "Assistance")),
)
_HEALTH = {
    "SERVING": ("ok", Label("正常", "serving")),
    "NOT_SERVING": ("bad", Label("停止服务", "not serving")),
    "SERVICE_UNKNOWN": ("warn", Label("未启用", "not run here")),
    "UNREACHABLE": ("bad", Label("无法连接", "unreachable")),
}
_STATUS = {
    "pending": Label("待办", "pending"),
    "answered": Label("已答复", "answered"),
    "refused": Label("已拒绝", "refused"),
}
_ONCE = re.compile(r"^[0-9a-f]{32}$")
MAX_NOTE = 500

# Messages the supervision room's redirects show (see viewmodels.FLASH: only known keys).
FLASH.update(
    {
        "urged": ("info", Label("已催办，已通知承办部门。", "Urged: the provider is reminded.")),
        "urged_once": (
            "warning",
            Label(
                "此催办表单已提交过，未再次催办。",
                "This urging form was already sent; the request was not urged again.",
            ),
        ),
    }
)


def _epoch(ts: Any) -> float | None:
    """A protobuf Timestamp as seconds, or None when unset."""
    if ts is None or (ts.seconds == 0 and ts.nanos == 0):
        return None
    return float(ts.seconds) + float(ts.nanos) / 1e9


def _when(ts: Any) -> str:
    at = _epoch(ts)
    return china_time(at) if at is not None else ""


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# --- figures and overdue requests --------------------------------------------------------------


def figures_rows(departments: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per provider: received, open, overdue now, answered, on time, refused, urgings."""
    rows = []
    for d in departments:
        decided = d.answered + d.refused
        rows.append(
            {
                "code": d.department_code,
                "name": d.department_name or d.department_code,
                "requests": d.requests,
                "open": max(0, d.requests - decided),
                "overdue": d.overdue_now,
                "answered": d.answered,
                "on_time_rate": _rate(d.answered_on_time, d.answered),
                "refused": d.refused,
                "refusal_rate": _rate(d.refused, decided),
                "urgings": d.urgings,
                "median_hours": round(d.median_response_working_hours, 1) if decided else None,
            }
        )
    return rows


def filter_overdue(requests: Iterable[Any], item_code: str) -> list[Any]:
    """The overdue requests of one item (all when ``item_code`` is empty)."""
    return [r for r in requests if not item_code or r.item_code == item_code]


def overdue_rows(
    requests: Iterable[Any], names: Mapping[str, str], now: float
) -> list[dict[str, Any]]:
    """The overdue table: most overdue first (as the report orders them)."""
    rows = []
    for r in requests:
        deadline = _epoch(r.deadline) or now
        rows.append(
            {
                "id": r.request_id,
                "item": f"{r.item_name} ({r.item_code})",
                "item_code": r.item_code,
                "provider": names.get(r.provider_code, r.provider_code),
                "requester": names.get(r.requester_code, r.requester_code),
                "submitted": _when(r.submitted_at),
                "deadline": _when(r.deadline),
                "provisional": r.deadline_provisional,
                "over": _duration(max(0.0, now - deadline)),
                "urgings": len(r.urgings),
            }
        )
    return rows


def items_by_code(items: Iterable[Any]) -> list[dict[str, str]]:
    """The item filter's choices: code and name, sorted by code."""
    return sorted(
        ({"code": i.code, "name": i.name, "provider": i.provider_code} for i in items),
        key=lambda i: i["code"],
    )


# --- a request and its timeline ----------------------------------------------------------------


def request_view(r: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """The request's facts; the holder number masked (the supervisor did not type it)."""
    status = _status_of(r)
    return {
        "id": r.request_id,
        "item": f"{r.item_name} ({r.item_code})",
        "provider": names.get(r.provider_code, r.provider_code),
        "requester": names.get(r.requester_code, r.requester_code),
        "holder": mask_number(r.holder_number) if r.holder_number else "",
        "purpose": r.purpose,
        "case_number": r.case_number,
        "status": _STATUS.get(status, Label(status, status)),
        "pending": status == "pending",
        "overdue": r.overdue,
        "deadline": _when(r.deadline),
        "provisional": r.deadline_provisional,
    }


def _status_of(r: Any) -> str:
    """``pending``, ``answered`` or ``refused`` (RequestStatus 1, 2, 3)."""
    return {2: "answered", 3: "refused"}.get(int(r.status), "pending")


def timeline(r: Any, names: Mapping[str, str], now: float) -> list[dict[str, Any]]:
    """What happened to the request, in time order: submitted, each urging, the deadline
    (passed or to come) and the decision."""
    events: list[tuple[float, dict[str, Any]]] = []

    def add(ts: Any, kind: str, label: Label, detail: str = "", who: str = "") -> None:
        at = _epoch(ts)
        if at is not None:
            events.append(
                (
                    at,
                    {
                        "kind": kind,
                        "at": china_time(at),
                        "label": label,
                        "detail": detail,
                        "who": who,
                    },
                )
            )

    add(
        r.submitted_at,
        "submitted",
        Label("提交申请", "Submitted"),
        r.purpose,
        names.get(r.requester_code, r.requester_code),
    )
    for u in r.urgings:
        add(u.at, "urged", Label("催办", "Urged"), u.note, names.get(u.by_code, u.by_code))
    deadline = _epoch(r.deadline)
    if deadline is not None:
        passed = deadline <= now
        label = (
            Label("办理时限（已过）", "Deadline (passed)")
            if passed
            else Label("办理时限", "Deadline")
        )
        detail = "暂定 provisional" if r.deadline_provisional else ""
        add(r.deadline, "deadline-passed" if passed else "deadline", label, detail)
    status = _status_of(r)
    provider = names.get(r.provider_code, r.provider_code)
    if status == "answered":
        add(r.decided_at, "answered", Label("已答复", "Answered"), "", provider)
    elif status == "refused":
        detail = f"{r.refusal_ground}: {r.refusal_explanation}".strip(": ")
        add(r.decided_at, "refused", Label("已拒绝", "Refused"), detail, provider)
    events.sort(key=lambda e: e[0])
    return [e[1] for e in events]


def urge_errors(note: str, once: str) -> dict[str, Label]:
    """The urging form's errors, each naming its field and rule."""
    errors = {}
    if len(note.strip()) > MAX_NOTE:
        errors["note"] = Label(
            f"催办说明不能超过 {MAX_NOTE} 个字符。", f"The note is at most {MAX_NOTE} characters."
        )
    if not _ONCE.match(once):
        errors["once"] = Label(
            "表单标识无效，请刷新页面后重新提交。",
            "The form's one-time key is missing or malformed; reload the page and send it again.",
        )
    return errors


# --- access records of a holder ----------------------------------------------------------------

_CHANNELS = {
    "verification": Label("核验", "verification"),
    "assistance": Label("行政协助", "assistance"),
    "licence_store": Label("证照查询", "licence store"),
    "supervision": Label("电子监察", "supervision"),
}
_REQUIRED = {
    "holder_number": Label("请输入当事人证件号码（必填）。", "Enter the holder number (required)."),
    "purpose": Label("请填写查询事由（必填）。", "State why you read them (required)."),
    "case_number": Label("请填写案号（必填）。", "Give the case they are read for (required)."),
}
_LIMITS = {"holder_number": 64, "purpose": 200, "case_number": 64, "page_token": 200}


def access_errors(form: Mapping[str, str]) -> dict[str, Label]:
    """The access form's errors, each naming its field and rule."""
    errors: dict[str, Label] = {}
    for name, limit in _LIMITS.items():
        value = form.get(name, "")
        if name in _REQUIRED and not value:
            errors[name] = _REQUIRED[name]
        elif len(value) > limit:
            errors[name] = Label(f"不能超过 {limit} 个字符。", f"At most {limit} characters.")
    return errors


def violation_errors(exc: Any) -> dict[str, Label]:
    """The service's field violations as the form's errors (field: what is wrong, and the
    rule's name); a violation of no form field goes under ``form``."""
    errors: dict[str, Label] = {}
    for v in getattr(exc, "violations", []):
        name = v.field if v.field in _LIMITS else "form"
        text = f"{v.field}: {v.description} ({v.reason})"
        errors[name] = Label(f"服务拒绝 — {text}", f"Refused by the service — {text}")
    if not errors:
        errors["form"] = Label(f"服务拒绝：{exc}", f"Refused by the service: {exc}")
    return errors


def access_rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Who read the holder's data, newest first (the records carry no holder number)."""
    return [
        {
            "at": _when(r.at),
            "department": r.department_name or r.department_code,
            "staff": r.staff,
            "channel": _CHANNELS.get(r.channel, Label(r.channel, r.channel)),
            "purpose": r.purpose,
            "case_number": r.case_number,
            "what": r.what,
        }
        for r in records
    ]


# --- trends ------------------------------------------------------------------------------------


def month_periods(today: date, months: int) -> list[tuple[str, str, str]]:
    """The last ``months`` calendar months up to ``today``'s: (label, first day, last day)."""
    periods = []
    year, month = today.year, today.month
    for _ in range(months):
        first = date(year, month, 1)
        nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
        last = date.fromordinal(date(nyear, nmonth, 1).toordinal() - 1)
        periods.append((f"{year:04d}-{month:02d}", first.isoformat(), last.isoformat()))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(periods))


def trends(
    months: Sequence[str], reports: Sequence[Iterable[Any]], names: Mapping[str, str]
) -> dict[str, Any]:
    """The charts' data: per provider, its on-time and refusal rate (percent) each month,
    ``None`` where it decided nothing that month. ``reports[i]`` are the figures of month
    ``months[i]``."""
    by_dept: dict[str, dict[str, list[float | None]]] = {}
    for index, departments in enumerate(reports):
        for d in departments:
            series = by_dept.setdefault(
                d.department_code,
                {"on_time": [None] * len(months), "refusal": [None] * len(months)},
            )
            series["on_time"][index] = _rate(d.answered_on_time, d.answered)
            series["refusal"][index] = _rate(d.refused, d.answered + d.refused)
    series_out = [
        {"code": code, "name": names.get(code, code), **values}
        for code, values in sorted(by_dept.items())
        if any(v is not None for v in values["on_time"] + values["refusal"])
    ]
    return {
        "months": list(months),
        "series": series_out,
        "labels": {
            "on_time": "按时答复率 On-time rate (%)",
            "refusal": "拒绝率 Refusal rate (%)",
        },
    }


# --- the tamper-evident log --------------------------------------------------------------------


@dataclass(frozen=True)
class HealthRow:
    """One service's health as the panel shows it."""

    name: Label
    level: str  # ok, warn, bad
    state: Label


def health_rows(statuses: Mapping[str, str]) -> list[HealthRow]:
    """``statuses``: health name → SERVING/NOT_SERVING/SERVICE_UNKNOWN/UNREACHABLE."""
    rows = []
    for name, label in SERVICES:
        level, state = _HEALTH.get(statuses.get(name, "UNREACHABLE"), _HEALTH["UNREACHABLE"])
        rows.append(HealthRow(label, level, state))
    return rows


def head_view(head: Any | None, now: float, problem: str = "") -> dict[str, Any]:
    """The log's latest signed head: size, when signed, its age, and whether it is old."""
    if head is None:
        return {"present": False, "problem": problem}
    at = _epoch(head.at)
    age = max(0.0, now - at) if at is not None else None
    return {
        "present": True,
        "problem": problem,
        "size": head.tree_size,
        "at": china_time(at) if at is not None else "",
        "age": _age_text(age),
        "stale": age is None or age > HEAD_STALE_SECONDS,
        "stale_minutes": HEAD_STALE_SECONDS // 60,
        "root": head.root_hash.hex()[:16],
        "key_id": head.key_id,
    }


def _duration(seconds: float) -> Label:
    """How long past a deadline: hours under two days, else days."""
    if seconds < 2 * 86400:
        return Label(f"{int(seconds // 3600)} 小时", f"{int(seconds // 3600)} h")
    return Label(f"{int(seconds // 86400)} 天", f"{int(seconds // 86400)} days")


def _age_text(seconds: float | None) -> Label:
    if seconds is None:
        return Label("未知", "unknown")
    if seconds < 120:
        return Label(f"{int(seconds)} 秒前", f"{int(seconds)} s ago")
    if seconds < 7200:
        return Label(f"{int(seconds // 60)} 分钟前", f"{int(seconds // 60)} min ago")
    if seconds < 2 * 86400:
        return Label(f"{int(seconds // 3600)} 小时前", f"{int(seconds // 3600)} h ago")
    return Label(f"{int(seconds // 86400)} 天前", f"{int(seconds // 86400)} days ago")
