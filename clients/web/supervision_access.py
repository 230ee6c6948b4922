"""Access records of a holder (用数记录) in the supervision room: who read the holder's data,
when, through which channel, for what purpose and case, and which staff member where the
department named one.

The holder's number is typed into a POST form and never put in a URL (the next page is a POST
of the same form with the page token). The services require a supervisor to state a purpose
and a case, and record the supervisor's own read for the holder before answering — so each
page asked for is itself a read in the holder's records.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clients.web.auth import requires
from clients.web.desk import desk_of
from clients.web.supervision import supervisor_or_redirect
from clients.web.templating import render
from clients.web.viewmodels_supervision import access_errors, access_rows, violation_errors
from yihao_shared.errors import InvalidArgument

__all__ = ["ROUTES"]

#: Records per page.
PAGE_SIZE = 50
_FIELDS = ("holder_number", "purpose", "case_number", "page_token")


@requires("supervisor")
def access_form(request: Request) -> Response:
    """GET /supervision/access: the form."""
    return render(request, "supervision_access.html", {"form": {}, "errors": {}})


async def access_records(request: Request) -> Response:
    """POST /supervision/access: the holder's records (a page), or the form's errors."""
    refused = supervisor_or_redirect(request)
    if refused is not None:
        return refused
    data = await request.form()
    form = {name: str(data.get(name, "")).strip() for name in _FIELDS}
    return await run_in_threadpool(_records, request, form)


def _records(request: Request, form: dict[str, str]) -> Response:
    errors = access_errors(form)
    if errors:
        return render(request, "supervision_access.html", {"form": form, "errors": errors}, 400)
    client = desk_of(request).backend.client(request.state.account)
    try:
        reply = client.list_access_records(
            holder_number=form["holder_number"],
            purpose=form["purpose"],
            case_number=form["case_number"],
            page_size=PAGE_SIZE,
            page_token=form["page_token"],
        )
    except InvalidArgument as exc:
        context: dict[str, Any] = {"form": form, "errors": violation_errors(exc)}
        return render(request, "supervision_access.html", context, 400)
    context = {
        "form": form,
        "errors": {},
        "rows": access_rows(reply.records),
        "next_token": reply.next_page_token,
        "searched": True,
    }
    return render(request, "supervision_access.html", context)


ROUTES = [
    Route("/supervision/access", access_form, methods=["GET"]),
    Route("/supervision/access", access_records, methods=["POST"]),
]
