"""``yihao assist ...``: assistance items (行政协助) and requests between departments.

Ask, answer, refuse on a listed ground, urge; the supervision report, "who used my data" and
notification-commitments are in ``clients.oversight_commands``.

Times are shown in China time (北京时间): time limits are counted in Chinese working days and
end at 23:59 on the last one, whatever the clock of the terminal says. Department arguments
accept the demo aliases (``police``, ``education``, ...) as well as credit codes.
"""

from __future__ import annotations

from collections.abc import Mapping

from clients import render
from clients.assist_view import (
    CHINA_TIME,
    PAGE_SIZE,
    PENDING_PAGE_SIZE,
    PROCEDURE_GLOSS,
    STATUS_GLOSS,
    Lookup,
    Names,
    at_text,
    card,
    china_time,
    department_names,
    field_labels,
    glossed,
    ground_text,
    pages,
)
from clients.commands import Context
from yihao.v1 import assistance_pb2 as apb
from yihao_shared.departments import code_of

__all__ = [
    "cmd_answer",
    "cmd_items",
    "cmd_mine",
    "cmd_pending",
    "cmd_refuse",
    "cmd_request",
    "cmd_show",
    "cmd_urge",
    "cmd_watch",
    "deadline_text",
]


# --- the catalogue ----------------------------------------------------------------------------


def _procedure(value: int) -> str:
    return glossed(render.enum_name(apb.Procedure, value), PROCEDURE_GLOSS)


def items_table(items: list[apb.AssistanceItem]) -> str:
    """Assistance items, one row each, then the conditions a request must meet."""
    rows = [
        (
            i.code,
            i.name,
            i.provider_name or i.provider_code,
            _procedure(i.procedure),
            str(i.time_limit_working_days),
            ", ".join(i.fields),
            ", ".join(i.refusal_grounds),
        )
        for i in items
    ]
    headers = ("CODE", "ITEM", "PROVIDER", "PROCEDURE", "WORKING DAYS", "FIELDS", "REFUSAL GROUNDS")
    notes = [_conditions(i) for i in items if i.legal_basis_required or i.allowed_purposes]
    tail = "\n\n条件 conditions\n" + "\n".join(notes) if notes else ""
    return render.table(headers, rows) + tail


def _conditions(item: apb.AssistanceItem) -> str:
    parts = ["依据 legal basis (--basis) required"] if item.legal_basis_required else []
    if item.allowed_purposes:
        parts.append("事由 purpose (--purpose) one of: " + " | ".join(item.allowed_purposes))
    return f"  {item.code}  " + "; ".join(parts)


def cmd_items(ctx: Context) -> int:
    """The assistance items, filtered."""
    a = ctx.args
    procedure = f"PROCEDURE_{a.procedure.upper()}" if a.procedure else "PROCEDURE_UNSPECIFIED"
    items = ctx.client().all_items(
        provider_code=code_of(a.provider) if a.provider else "",
        requester_code=code_of(a.requester) if a.requester else "",
        procedure=procedure,
        text=a.text or "",
    )
    ctx.out.show_all(list(items), items_table)
    return 0


# --- requests ---------------------------------------------------------------------------------


def _status(r: apb.AssistanceRequest) -> str:
    name = render.enum_name(apb.RequestStatus, r.status)
    text = glossed(name, STATUS_GLOSS)
    if r.overdue:
        late = "OVERDUE 已超期" if name == "pending" else "decided after the deadline 超期办结"
        text += f"   {late}"
    return text


def _refusal(r: apb.AssistanceRequest) -> str:
    return ground_text(r.refusal_ground) if r.refusal_ground else ""


def _lines(title: str, rows: list[tuple[str, str]]) -> str:
    return f"\n{title}\n" + card(rows) if rows else ""


#: How a provisional deadline is marked: counted with no published calendar for its year.
PROVISIONAL = "provisional 暂定"


def deadline_text(r: apb.AssistanceRequest) -> str:
    """A request's deadline (China time), marked when it is provisional."""
    text = china_time(r.deadline)
    return f"{text} ({PROVISIONAL})" if text and r.deadline_provisional else text


def _deadline_line(r: apb.AssistanceRequest) -> str:
    if not r.deadline_provisional:
        return at_text(r.deadline)
    return (
        f"{at_text(r.deadline)} — {PROVISIONAL}: no published holiday calendar for that year "
        "(weekends and statutory holidays only)"
    )


def _answer(r: apb.AssistanceRequest, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The answer: ``result`` first, then the fields in the order they were asked for."""
    order = ["result", *r.requested_fields]
    keys = [k for k in order if k in r.answer] + sorted(k for k in r.answer if k not in order)
    labels = {"result": "结果", **labels}
    return [(f"  {labels[k]} {k}" if labels.get(k) else f"  {k}", r.answer[k]) for k in keys]


def request_card(
    r: apb.AssistanceRequest, names: Names, labels: Mapping[str, str] | None = None
) -> str:
    """One request: what was asked, by whom, of whom, by when, and the answer or refusal."""
    text = card(
        [
            ("协助申请 request", r.request_id),
            ("事项 item", f"{r.item_name} ({r.item_code})" if r.item_name else r.item_code),
            ("状态 status", _status(r)),
            ("请求部门 requester", names(r.requester_code)),
            (
                "经办人 staff",
                f"{r.requester_staff} (as the requester says)" if r.requester_staff else "",
            ),
            ("协助部门 provider", names(r.provider_code)),
            ("号码 holder number", r.holder_number),
            ("事由 purpose", r.purpose),
            ("依据 legal basis", r.legal_basis),
            ("案号 case", r.case_number),
            ("内容 fields", ", ".join(r.requested_fields)),
            ("提交 submitted", at_text(r.submitted_at)),
            ("时限 deadline", _deadline_line(r)),
            ("办结 decided", at_text(r.decided_at)),
            ("拒绝理由 refused on", _refusal(r)),
            ("说明 explanation", r.refusal_explanation),
        ]
    )
    answer = _answer(r, labels or {})
    urgings = [(f"  {china_time(u.at)}", f"{names(u.by_code)}  {u.note}") for u in r.urgings]
    return text + _lines("答复 answer", answer) + _lines("催办 urgings", urgings)


def _show_request(ctx: Context, r: apb.AssistanceRequest) -> int:
    ctx.out.show(r, lambda: request_card(r, department_names(ctx), field_labels(ctx, r.item_code)))
    return 0


def cmd_request(ctx: Context) -> int:
    """Ask another department for assistance under a catalogue item."""
    a = ctx.args
    submitted = ctx.client().submit_request(
        idempotency_key=a.key or "",
        item_code=a.item,
        holder_number=a.holder_number,
        purpose=a.purpose,
        legal_basis=a.basis or "",
        case_number=a.case or "",
        requested_fields=a.field,
        consent_grant_id=a.consent or "",
    )
    return _show_request(ctx, submitted)


def cmd_show(ctx: Context) -> int:
    """One request, to its requester, its provider or a supervisor."""
    return _show_request(ctx, ctx.client().get_request(request_id=ctx.args.request_id))


def cmd_answer(ctx: Context) -> int:
    """The provider answers a pending request."""
    a = ctx.args
    answered = ctx.client().answer(request_id=a.request_id, data=dict(a.data))
    return _show_request(ctx, answered)


def cmd_refuse(ctx: Context) -> int:
    """The provider refuses a pending request on a ground the item lists."""
    a = ctx.args
    refused = ctx.client().refuse(
        request_id=a.request_id, ground=a.ground, explanation=a.explanation
    )
    return _show_request(ctx, refused)


def cmd_urge(ctx: Context) -> int:
    """催办: urge a pending request."""
    a = ctx.args
    return _show_request(ctx, ctx.client().urge(request_id=a.request_id, note=a.note or ""))


def _status_value(name: str | None) -> int:
    return apb.RequestStatus.Value(f"REQUEST_STATUS_{(name or 'unspecified').upper()}")


def mine_table(requests: list[apb.AssistanceRequest], names: Lookup) -> str:
    """The requester's requests, newest first."""
    ordered = sorted(requests, key=lambda r: r.submitted_at.ToNanoseconds(), reverse=True)
    rows = [
        (
            r.request_id,
            f"{r.item_name} ({r.item_code})",
            names.short(r.provider_code),
            _status(r),
            china_time(r.submitted_at),
            deadline_text(r),
            r.case_number,
        )
        for r in ordered
    ]
    headers = ("REQUEST", "ITEM", "PROVIDER", "STATUS", "SUBMITTED", "DEADLINE", "CASE")
    return render.table(headers, rows) + (f"\n(times: {CHINA_TIME})" if rows else "")


def cmd_mine(ctx: Context) -> int:
    """The calling department's own requests."""
    status = _status_value(ctx.args.status)

    def fetch(token: str) -> apb.ListRequestsResponse:
        return ctx.client().list_my_requests(status=status, page_size=PAGE_SIZE, page_token=token)

    names = department_names(ctx)
    ctx.out.show_all(pages(fetch, "requests", ctx), lambda rows: mine_table(rows, names))
    return 0


def pending_table(requests: list[apb.AssistanceRequest], names: Lookup) -> str:
    """The provider's queue in the server's order (oldest deadline first)."""
    rows = [
        (
            "OVERDUE 已超期" if r.overdue else "pending 待办",
            deadline_text(r),
            r.request_id,
            f"{r.item_name} ({r.item_code})",
            names.short(r.requester_code),
            r.holder_number,
            r.purpose,
            r.case_number,
        )
        for r in requests
    ]
    headers = ("STATUS", "DEADLINE", "REQUEST", "ITEM", "REQUESTER", "HOLDER", "PURPOSE", "CASE")
    return render.table(headers, rows) + (f"\n(deadlines: {CHINA_TIME})" if rows else "")


def cmd_pending(ctx: Context) -> int:
    """The calling provider's queue."""
    requests, token = [], ""
    while True:
        reply = ctx.client().list_pending(page_size=PENDING_PAGE_SIZE, page_token=token)
        requests += list(reply.requests)
        token = reply.next_page_token
        if not token:
            break
    names = department_names(ctx)
    ctx.out.show_all(requests, lambda rows: pending_table(rows, names))
    return 0


def request_line(r: apb.AssistanceRequest) -> str:
    """One request on one line (for ``watch``)."""
    cells = (r.request_id, r.item_code, _status(r), deadline_text(r), r.case_number)
    return "  ".join(cell for cell in cells if cell)


def cmd_watch(ctx: Context) -> int:
    """The calling department's requests as they change."""
    for r in ctx.client().watch_my_requests(follow=ctx.args.follow):
        _show_line(ctx, r)
    return 0


def _show_line(ctx: Context, r: apb.AssistanceRequest) -> None:
    ctx.out.show(r, lambda: request_line(r))
