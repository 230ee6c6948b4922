"""``yihao`` commands for administrative assistance (行政协助) between departments.

``assist ...`` works with the catalogue of assistance items and with requests (ask, answer,
refuse on a listed ground, urge); ``supervise`` is the electronic supervision report
(电子监察); ``access`` is "who used my data" for the holder portal; ``commit ...`` records
and checks notification-commitments (告知承诺).

Times are shown in China time (北京时间): time limits are counted in Chinese working days and
end at 23:59 on the last one, whatever the clock of the terminal says. Department arguments
accept the demo aliases (``police``, ``education``, ...) as well as credit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import timestamp_pb2

from clients import render
from clients.commands import Context
from yihao.v1 import assistance_pb2 as apb
from yihao_shared.departments import code_of
from yihao_shared.errors import YihaoError
from yihao_shared.vocabulary import CHINA_TZ, REFUSAL_GROUNDS

__all__ = [
    "cmd_access",
    "cmd_answer",
    "cmd_commit_check",
    "cmd_commit_list",
    "cmd_commit_record",
    "cmd_items",
    "cmd_mine",
    "cmd_pending",
    "cmd_refuse",
    "cmd_request",
    "cmd_show",
    "cmd_supervise",
    "cmd_urge",
    "cmd_watch",
]

#: Turns a code into something a person reads, e.g. ``福州市公安局 (11350100131860916B)``.
Names = Callable[[str], str]

PAGE_SIZE = 500
PENDING_PAGE_SIZE = 1000  # the server's largest queue page
CHINA_TIME = "北京时间"
STATUS_GLOSS = {"pending": "待办", "answered": "已答复", "refused": "已拒绝"}
PROCEDURE_GLOSS = {"automatic": "自动", "manual": "人工"}
COMMITMENT_GLOSS = {"pending": "待核查", "kept": "已履行", "broken": "未履行"}
CHANNEL_GLOSS = {"verification": "核验", "assistance": "行政协助", "licence_store": "证照查询"}

# --- small pieces -----------------------------------------------------------------------------


def china_time(ts: timestamp_pb2.Timestamp) -> str:
    """An instant as China date and time to the minute; empty when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return ""
    return ts.ToDatetime(tzinfo=CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _glossed(name: str, glosses: dict[str, str]) -> str:
    gloss = glosses.get(name)
    return f"{name} {gloss}" if gloss else name


def _card(pairs: Iterable[tuple[str, str]]) -> str:
    """Label/value lines, values aligned; empty values left out."""
    shown = [(k, v) for k, v in pairs if v]
    cells = max((render.width(k) for k, _ in shown), default=0)
    return "\n".join(f"{k}{' ' * (cells - render.width(k))}  {v}" for k, v in shown)


def _ground(ground: str) -> str:
    """``NOT_HELD`` → ``NOT_HELD 本部门未掌握``."""
    gloss = REFUSAL_GROUNDS.get(ground, "").split(" (", 1)[0]
    return f"{ground} {gloss}".strip()


def _named(name: str, code: str) -> str:
    return f"{name} ({code})" if name else code


class Lookup:
    """Names by code, each fetched once (human output only); the bare code if that fails."""

    def __init__(self, fetch: Callable[[str], str]) -> None:
        self._fetch = fetch
        self._known: dict[str, str] = {}

    def __call__(self, code: str) -> str:
        """``福州市公安局 (11350100131860916B)``, or the code alone."""
        name = self.short(code)
        return _named(name, code) if name != code else code

    def short(self, code: str) -> str:
        """``福州市公安局``, or the code when the name is unknown."""
        if code and code not in self._known:
            try:
                self._known[code] = self._fetch(code) or code
            except YihaoError:
                self._known[code] = code
        return self._known.get(code, "")


def department_names(ctx: Context) -> Lookup:
    """Department names by credit code."""
    return Lookup(lambda code: ctx.client().get_department(credit_code=code).name)


def type_names(ctx: Context) -> Lookup:
    """Licence type names by type code."""
    return Lookup(lambda code: ctx.client().get_licence_type(type_code=code).name)


@dataclass(frozen=True)
class Lookups:
    """What the human output names by code: departments and licence types."""

    department: Lookup
    licence_type: Lookup

    @classmethod
    def of(cls, ctx: Context) -> Lookups:
        """Lookups through the context's client."""
        return cls(department_names(ctx), type_names(ctx))


def field_labels(ctx: Context, item_code: str) -> dict[str, str]:
    """Labels of the licence fields an item provides (best effort: none on error)."""
    try:
        items = list(ctx.client().all_items(text=item_code))
        type_code = next((i.licence_type_code for i in items if i.code == item_code), "")
        if not type_code:
            return {}
        return {f.name: f.label for f in ctx.client().get_licence_type(type_code=type_code).fields}
    except YihaoError:
        return {}


def _pages(fetch: Callable[[str], Any], attr: str, ctx: Context) -> Iterator[Any]:
    """Every page of a paged list when ``--all-pages``, else the first with a note."""
    token = ""
    while True:
        page = fetch(token)
        yield from getattr(page, attr)
        token = page.next_page_token
        if not token:
            return
        if not ctx.args.all_pages:
            ctx.out.note("(more: add --all-pages to see them all)")
            return


# --- the catalogue ----------------------------------------------------------------------------


def _procedure(value: int) -> str:
    return _glossed(render.enum_name(apb.Procedure, value), PROCEDURE_GLOSS)


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
    text = _glossed(name, STATUS_GLOSS)
    if r.overdue:
        late = "OVERDUE 已超期" if name == "pending" else "decided after the deadline 超期办结"
        text += f"   {late}"
    return text


def _refusal(r: apb.AssistanceRequest) -> str:
    return _ground(r.refusal_ground) if r.refusal_ground else ""


def _lines(title: str, rows: list[tuple[str, str]]) -> str:
    return f"\n{title}\n" + _card(rows) if rows else ""


def _at(ts: timestamp_pb2.Timestamp) -> str:
    text = china_time(ts)
    return f"{text} {CHINA_TIME}" if text else ""


#: How a provisional deadline is marked: counted with no published calendar for its year.
PROVISIONAL = "provisional 暂定"


def deadline_text(r: apb.AssistanceRequest) -> str:
    """A request's deadline (China time), marked when it is provisional."""
    text = china_time(r.deadline)
    return f"{text} ({PROVISIONAL})" if text and r.deadline_provisional else text


def _deadline_line(r: apb.AssistanceRequest) -> str:
    if not r.deadline_provisional:
        return _at(r.deadline)
    return (
        f"{_at(r.deadline)} — {PROVISIONAL}: no published holiday calendar for that year "
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
    card = _card(
        [
            ("协助申请 request", r.request_id),
            ("事项 item", f"{r.item_name} ({r.item_code})" if r.item_name else r.item_code),
            ("状态 status", _status(r)),
            ("请求部门 requester", names(r.requester_code)),
            ("协助部门 provider", names(r.provider_code)),
            ("号码 holder number", r.holder_number),
            ("事由 purpose", r.purpose),
            ("依据 legal basis", r.legal_basis),
            ("案号 case", r.case_number),
            ("内容 fields", ", ".join(r.requested_fields)),
            ("提交 submitted", _at(r.submitted_at)),
            ("时限 deadline", _deadline_line(r)),
            ("办结 decided", _at(r.decided_at)),
            ("拒绝理由 refused on", _refusal(r)),
            ("说明 explanation", r.refusal_explanation),
        ]
    )
    answer = _answer(r, labels or {})
    urgings = [(f"  {china_time(u.at)}", f"{names(u.by_code)}  {u.note}") for u in r.urgings]
    return card + _lines("答复 answer", answer) + _lines("催办 urgings", urgings)


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
    ctx.out.show_all(_pages(fetch, "requests", ctx), lambda rows: mine_table(rows, names))
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


# --- supervision ------------------------------------------------------------------------------


def _by_ground(counts: Any) -> str:
    return ", ".join(f"{g}: {n}" for g, n in sorted(counts.items()))


def _median(d: apb.DepartmentFigures) -> str:
    decided = d.answered + d.refused
    return f"{d.median_response_working_hours:.1f}" if decided else "—"


def _figures_table(departments: Iterable[apb.DepartmentFigures]) -> str:
    rows = [
        (
            _named(d.department_name, d.department_code),
            str(d.requests),
            str(d.answered),
            str(d.answered_on_time),
            str(d.refused),
            _by_ground(d.refusals_by_ground),
            str(d.overdue_now),
            _median(d),
            str(d.urgings),
            str(d.provisional_deadlines),
        )
        for d in departments
    ]
    headers = (
        "PROVIDER",
        "REQUESTS",
        "ANSWERED",
        "ON TIME",
        "REFUSED",
        "REFUSALS BY GROUND",
        "OVERDUE NOW",
        "MEDIAN WORKING H",
        "URGINGS",
        "PROVISIONAL DEADLINES",
    )
    return render.table(headers, rows)


def _overdue_table(requests: Iterable[apb.AssistanceRequest], names: Lookup) -> str:
    rows = [
        (
            r.request_id,
            f"{r.item_name} ({r.item_code})",
            names.short(r.provider_code),
            names.short(r.requester_code),
            deadline_text(r),
            str(len(r.urgings)),
        )
        for r in requests
    ]
    headers = ("REQUEST", "ITEM", "PROVIDER", "REQUESTER", "DEADLINE", "URGINGS")
    return render.table(headers, rows)


def supervision_report(report: apb.SupervisionReport, lookups: Lookups) -> str:
    """The 电子监察 report: figures per provider, overdue requests, broken commitments."""
    warning = [f"日历 calendar: {report.calendar_warning}"] if report.calendar_warning else []
    return "\n\n".join(
        [
            f"电子监察 supervision report, as of {china_time(report.as_of)} {CHINA_TIME}",
            *warning,
            "各部门 by provider (median: working hours from request to decision)\n"
            + _figures_table(report.departments),
            "超期未办 overdue now\n" + _overdue_table(report.overdue, lookups.department),
            "未履行承诺 broken commitments\n"
            + commitments_table(report.broken_commitments, lookups),
        ]
    )


def cmd_supervise(ctx: Context) -> int:
    """The electronic supervision report."""
    codes = [code_of(code) for code in ctx.args.department]
    a = ctx.args
    report = ctx.client().supervise(
        department_codes=codes,
        submitted_from=a.submitted_from or "",
        submitted_to=a.submitted_to or "",
        max_overdue=a.max_overdue,
    )
    lookups = Lookups.of(ctx)
    ctx.out.show(report, lambda: supervision_report(report, lookups))
    return 0


# --- who used my data -------------------------------------------------------------------------


def access_table(records: list[apb.AccessRecord]) -> str:
    """Who read a holder's data, newest first."""
    rows = [
        (
            china_time(r.at),
            _named(r.department_name, r.department_code),
            _glossed(r.channel, CHANNEL_GLOSS),
            r.purpose,
            r.case_number,
            r.what,
        )
        for r in records
    ]
    headers = ("TIME", "DEPARTMENT", "CHANNEL", "PURPOSE", "CASE", "WHAT")
    return render.table(headers, rows) + (f"\n(times: {CHINA_TIME})" if rows else "")


def cmd_access(ctx: Context) -> int:
    """Who used a holder's data (the holder portal)."""
    number = ctx.args.holder_number

    def fetch(token: str) -> apb.ListAccessRecordsResponse:
        return ctx.client().list_access_records(
            holder_number=number, page_size=PAGE_SIZE, page_token=token
        )

    ctx.out.show_all(_pages(fetch, "records", ctx), access_table)
    return 0


# --- notification-commitments -----------------------------------------------------------------


def _commitment_status(value: int) -> str:
    return _glossed(render.enum_name(apb.CommitmentStatus, value), COMMITMENT_GLOSS)


def commitments_table(commitments: Iterable[apb.Commitment], lookups: Lookups) -> str:
    """Commitments, one row each."""
    rows = [
        (
            c.commitment_id,
            _commitment_status(c.status),
            c.applicant_number,
            c.applicant_name,
            lookups.licence_type.short(c.licence_type_code),
            c.case_number,
            c.check_by,
            lookups.department.short(c.department_code),
            c.outcome,
        )
        for c in commitments
    ]
    headers = (
        "COMMITMENT",
        "STATUS",
        "APPLICANT",
        "NAME",
        "LICENCE TYPE",
        "CASE",
        "CHECK BY",
        "DEPARTMENT",
        "OUTCOME",
    )
    return render.table(headers, rows)


def commitment_card(c: apb.Commitment, lookups: Lookups) -> str:
    """One commitment."""
    return _card(
        [
            ("告知承诺 commitment", c.commitment_id),
            ("状态 status", _commitment_status(c.status)),
            ("申请人 applicant", _named(c.applicant_name, c.applicant_number)),
            ("承诺持有 licence type", lookups.licence_type(c.licence_type_code)),
            ("案号 case", c.case_number),
            ("核查期限 check by", c.check_by),
            ("受理部门 department", lookups.department(c.department_code)),
            ("记录 recorded", _at(c.recorded_at)),
            ("核查 checked", _at(c.checked_at)),
            ("结果 outcome", c.outcome),
        ]
    )


def cmd_commit_record(ctx: Context) -> int:
    """Record an applicant's commitment to hold a valid licence of a type by a date."""
    a = ctx.args
    commitment = ctx.client().record_commitment(
        applicant_number=a.applicant_number,
        applicant_name=a.name or "",
        licence_type_code=a.type,
        case_number=a.case,
        check_by=a.check_by,
    )
    lookups = Lookups.of(ctx)
    ctx.out.show(commitment, lambda: commitment_card(commitment, lookups))
    return 0


def _commitment_status_value(name: str | None) -> int:
    return apb.CommitmentStatus.Value(f"COMMITMENT_STATUS_{(name or 'unspecified').upper()}")


def cmd_commit_list(ctx: Context) -> int:
    """Commitments, optionally of one status."""
    reply = ctx.client().list_commitments(status=_commitment_status_value(ctx.args.status))
    lookups = Lookups.of(ctx)
    ctx.out.show_all(reply.commitments, lambda rows: commitments_table(rows, lookups))
    return 0


def _checked(changed: list[apb.Commitment], lookups: Lookups) -> str:
    if not changed:
        return "no commitment changed 无变化 (none newly kept, none past its date)"
    return f"{len(changed)} changed 状态变化\n{commitments_table(changed, lookups)}"


def cmd_commit_check(ctx: Context) -> int:
    """Check every pending commitment now; show the ones that changed."""
    reply = ctx.client().check_commitments()
    lookups = Lookups.of(ctx)
    ctx.out.show_all(reply.commitments, lambda rows: _checked(rows, lookups))
    return 0
