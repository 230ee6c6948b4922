"""``yihao supervise``, ``access`` and ``commit ...``: oversight of assistance and data use.

``supervise`` is the electronic supervision report (电子监察); ``access`` is "who used my data"
for the holder portal; ``commit ...`` records and checks notification-commitments (告知承诺).
Times are China time (北京时间).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clients import render
from clients.assist_commands import deadline_text
from clients.assist_view import (
    CHANNEL_GLOSS,
    CHINA_TIME,
    COMMITMENT_GLOSS,
    PAGE_SIZE,
    Lookup,
    Lookups,
    at_text,
    card,
    china_time,
    glossed,
    named,
    pages,
)
from clients.commands import Context
from yihao.v1 import assistance_pb2 as apb
from yihao_shared.departments import code_of

__all__ = [
    "cmd_access",
    "cmd_commit_check",
    "cmd_commit_list",
    "cmd_commit_record",
    "cmd_supervise",
]


# --- supervision ------------------------------------------------------------------------------


def _by_ground(counts: Any) -> str:
    return ", ".join(f"{g}: {n}" for g, n in sorted(counts.items()))


def _median(d: apb.DepartmentFigures) -> str:
    decided = d.answered + d.refused
    return f"{d.median_response_working_hours:.1f}" if decided else "—"


def _figures_table(departments: Iterable[apb.DepartmentFigures]) -> str:
    rows = [
        (
            named(d.department_name, d.department_code),
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
            named(r.department_name, r.department_code),
            r.staff,
            glossed(r.channel, CHANNEL_GLOSS),
            r.purpose,
            r.case_number,
            r.what,
        )
        for r in records
    ]
    headers = ("TIME", "DEPARTMENT", "STAFF", "CHANNEL", "PURPOSE", "CASE", "WHAT")
    return render.table(headers, rows) + (f"\n(times: {CHINA_TIME})" if rows else "")


def cmd_access(ctx: Context) -> int:
    """Who used a holder's data (the holder portal)."""
    number = ctx.args.holder_number

    def fetch(token: str) -> apb.ListAccessRecordsResponse:
        return ctx.client().list_access_records(
            holder_number=number,
            page_size=PAGE_SIZE,
            page_token=token,
            purpose=ctx.args.purpose,
            case_number=ctx.args.case,
        )

    ctx.out.show_all(pages(fetch, "records", ctx), access_table)
    return 0


# --- notification-commitments -----------------------------------------------------------------


def _commitment_status(value: int) -> str:
    return glossed(render.enum_name(apb.CommitmentStatus, value), COMMITMENT_GLOSS)


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
    return card(
        [
            ("告知承诺 commitment", c.commitment_id),
            ("状态 status", _commitment_status(c.status)),
            ("申请人 applicant", named(c.applicant_name, c.applicant_number)),
            ("承诺持有 licence type", lookups.licence_type(c.licence_type_code)),
            ("案号 case", c.case_number),
            ("核查期限 check by", c.check_by),
            ("受理部门 department", lookups.department(c.department_code)),
            ("记录 recorded", at_text(c.recorded_at)),
            ("核查 checked", at_text(c.checked_at)),
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
