"""The supervision room (电子监察, issue 13 item 3), for accounts with the ``supervisor`` role.

Thin views over the assistance service's supervision RPCs, called as the supervisor's
department (the services decide what it may see):

* ``GET /supervision`` — open and overdue requests by provider and item (filters; the table
  refreshes itself with htmx), the on-time and refusal rate charts, the health panel.
* ``GET /supervision/overdue`` — the overdue table alone (htmx).
* ``GET /supervision/trends.json`` — the charts' data (one ``Supervise`` per month).
* ``GET /supervision/health`` — the services' gRPC health and the log's latest signed head.
* ``GET /supervision/requests/{id}`` — a request and its timeline, with the urging form;
  ``POST`` there urges it (催办) once per form (:mod:`clients.web.once`).

Figures and definitions: :mod:`clients.web.viewmodels_supervision`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from clients.web import once
from clients.web.auth import requires
from clients.web.desk import desk_of
from clients.web.templating import render
from clients.web.viewmodels import CHINA, Label, china_time
from clients.web.viewmodels_supervision import (
    SERVICES,
    figures_rows,
    filter_overdue,
    head_view,
    health_rows,
    items_by_code,
    month_periods,
    overdue_rows,
    request_view,
    timeline,
    trends,
    urge_errors,
)
from yihao_shared.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    YihaoError,
)

__all__ = ["ROUTES"]

#: Months the charts may span.
MONTH_CHOICES = (3, 6, 12, 24)
#: The health panel's calls give up quickly: it must say "unreachable", not hang.
HEALTH_TIMEOUT = 3.0


def _client(request: Request) -> Any:
    return desk_of(request).backend.client(request.state.account)


def _names(client: Any) -> dict[str, str]:
    """Department credit code → name (every registered department)."""
    names: dict[str, str] = {}
    token = ""
    while True:
        page = client.list_departments(page_size=1000, page_token=token)
        names.update({d.credit_code: d.name for d in page.departments})
        token = page.next_page_token
        if not token:
            return names


def _filters(request: Request) -> dict[str, str]:
    """The provider and item filters (credit code, item code: not personal, fine in URLs)."""
    query = request.query_params
    return {
        "provider": query.get("provider", "").strip()[:32],
        "item": query.get("item", "").strip()[:64],
    }


def _overdue_context(request: Request, client: Any) -> dict[str, Any]:
    filters = _filters(request)
    codes = [filters["provider"]] if filters["provider"] else []
    report = client.supervise(department_codes=codes, max_overdue=1000)
    names = _names(client)
    now = desk_of(request).clock()
    overdue = filter_overdue(report.overdue, filters["item"])
    return {
        "filters": filters,
        "figures": figures_rows(report.departments),
        "overdue": overdue_rows(overdue, names, now),
        "as_of": _as_of(report),
        "calendar_warning": report.calendar_warning,
        "names": names,
    }


def _as_of(report: Any) -> str:
    return china_time(report.as_of.seconds) if report.as_of.seconds else ""


@requires("supervisor")
def room(request: Request) -> Response:
    """GET /supervision: the room."""
    client = _client(request)
    context = _overdue_context(request, client)
    names = context["names"]
    items = items_by_code(client.all_items())
    providers = sorted({i["provider"] for i in items} | {f["code"] for f in context["figures"]})
    context.update(
        {
            "providers": [{"code": c, "name": names.get(c, c)} for c in providers],
            "items": items,
            "months": MONTH_CHOICES,
            "months_chosen": _months(request),
        }
    )
    return render(request, "supervision.html", context)


@requires("supervisor")
def overdue_table(request: Request) -> Response:
    """GET /supervision/overdue: the figures and overdue tables (htmx partial)."""
    context = _overdue_context(request, _client(request))
    return render(request, "_supervision_tables.html", context)


def _months(request: Request) -> int:
    raw = request.query_params.get("months", "12")
    return int(raw) if raw.isdecimal() and int(raw) in MONTH_CHOICES else 12


@requires("supervisor")
def trends_json(request: Request) -> Response:
    """GET /supervision/trends.json?months=N[&provider=CODE]: on-time and refusal rate per
    provider per month (China months; the desk's clock says which is the current one)."""
    client = _client(request)
    provider = _filters(request)["provider"]
    today = datetime.fromtimestamp(desk_of(request).clock(), UTC).astimezone(CHINA).date()
    periods = month_periods(today, _months(request))
    codes = [provider] if provider else []
    reports = [
        client.supervise(
            department_codes=codes, submitted_from=first, submitted_to=last, max_overdue=1
        ).departments
        for _label, first, last in periods
    ]
    data = trends([p[0] for p in periods], reports, _names(client))
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@requires("supervisor")
def health_panel(request: Request) -> Response:
    """GET /supervision/health: each service's gRPC health and the log's signed head. The
    services being down is what this panel reports, so it never turns into the 503 page."""
    client = _client(request)
    statuses: dict[str, str] = {}
    reachable = True
    for name, _label in SERVICES:
        if not reachable:
            statuses[name] = "UNREACHABLE"
            continue
        try:
            statuses[name] = client.health(name, timeout=HEALTH_TIMEOUT)
        except (Unavailable, DeadlineExceeded):
            statuses[name] = "UNREACHABLE"
            reachable = False
    head, problem = None, ""
    if reachable:
        try:
            head = client.get_tree_head(timeout=HEALTH_TIMEOUT)
        except (Unavailable, DeadlineExceeded):
            problem = "UNREACHABLE"
        except YihaoError as exc:  # e.g. LOG_BEHIND_TRUSTED_HEAD: the server refuses
            problem = exc.reason
    else:
        problem = "UNREACHABLE"
    context = {
        "services": health_rows(statuses),
        "head": head_view(head, desk_of(request).clock(), problem),
        "checked_at": _now_text(request),
    }
    return render(request, "_supervision_health.html", context)


def _now_text(request: Request) -> str:
    return china_time(desk_of(request).clock())


def _request_page(
    request: Request,
    request_id: str,
    errors: dict[str, Any] | None = None,
    note: str = "",
    status: int = 200,
) -> Response:
    client = _client(request)
    try:
        found = client.get_request(request_id=request_id)
    except (NotFound, InvalidArgument):
        return render(request, "supervision_request.html", {"missing": request_id}, status=404)
    names = _names(client)
    context = {
        "req": request_view(found, names),
        "events": timeline(found, names, desk_of(request).clock()),
        "once": once.form_key(),
        "errors": errors or {},
        "note": note,
    }
    return render(request, "supervision_request.html", context, status=status)


@requires("supervisor")
def request_page(request: Request) -> Response:
    """GET /supervision/requests/{id}: the request, its timeline, the urging form."""
    return _request_page(request, request.path_params["request_id"])


async def urge(request: Request) -> Response:
    """POST /supervision/requests/{id}: 催办 once per form, then back to the timeline.
    (Async to read the form, so the role check is :func:`supervisor_or_redirect`.)"""
    refused = supervisor_or_redirect(request)
    if refused is not None:
        return refused
    form = await request.form()
    note, key = str(form.get("note", "")).strip(), str(form.get("once", ""))
    return await run_in_threadpool(_urge, request, note, key)


def supervisor_or_redirect(request: Request) -> Response | None:
    """What :func:`clients.web.auth.requires` does, for an async view."""

    @requires("supervisor")
    def allowed(_request: Request) -> Response:
        return Response(status_code=204)

    answer = allowed(request)
    return None if answer.status_code == 204 else answer


def _urge(request: Request, note: str, key: str) -> Response:
    request_id = request.path_params["request_id"]
    errors = urge_errors(note, key)
    if errors:
        return _request_page(request, request_id, errors, note, status=400)
    desk = desk_of(request)
    account = request.state.account
    target = f"/supervision/requests/{request_id}"
    if not once.claim(desk.engine, key, account.account_id, desk.clock()):
        return RedirectResponse(f"{target}?m=urged_once", status_code=303)
    try:
        _client(request).urge(request_id=request_id, note=note)
    except DeadlineExceeded:
        raise  # it may have been recorded: the key stays claimed, so a resend cannot repeat it
    except (FailedPrecondition, InvalidArgument, NotFound) as exc:
        once.release(desk.engine, key)
        field = "note" if isinstance(exc, InvalidArgument) else "request"
        return _request_page(request, request_id, {field: _refusal(exc)}, note, status=400)
    except Exception:
        once.release(desk.engine, key)
        raise
    return RedirectResponse(f"{target}?m=urged", status_code=303)


def _refusal(exc: YihaoError) -> Label:
    if exc.reason == "REQUEST_NOT_PENDING":
        return Label("此申请已办结，不能催办。", "This request is decided: it cannot be urged.")
    return Label(f"服务拒绝：{exc.message}", f"Refused by the service: {exc.message}")


ROUTES = [
    Route("/supervision", room, methods=["GET"]),
    Route("/supervision/overdue", overdue_table, methods=["GET"]),
    Route("/supervision/trends.json", trends_json, methods=["GET"]),
    Route("/supervision/health", health_panel, methods=["GET"]),
    Route("/supervision/requests/{request_id}", request_page, methods=["GET"]),
    Route("/supervision/requests/{request_id}", urge, methods=["POST"]),
]
