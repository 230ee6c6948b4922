"""The operator desk's recent events (最近事件): the newest events of the licence types the
department may follow (those it issues or is granted to read), a page at a time.

``/operator/events`` — newest first (``WatchEvents`` with ``newest_first``); ``?before=<cursor>``
— the page before that event (cursors are the store's event numbers: nothing personal in the
URL). Each row: when (China time), what, which licence (its e-licence identifier, linked to
its page; an event carries no holder number), who (department and staff member), the reason
and the status after.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clients.web.auth import requires
from clients.web.operator import operator_client
from clients.web.templating import render
from clients.web.viewmodels_operator import event_rows

__all__ = ["PAGE", "ROUTES"]

#: Events per page.
PAGE = 50


@requires("operator")
def events_page(request: Request) -> Response:
    """GET /operator/events[?before=<cursor>]: a page of the newest events."""
    raw = request.query_params.get("before", "")
    if raw and not (raw.isdigit() and len(raw) <= 18):
        raise HTTPException(404)
    before = int(raw or 0)
    client = operator_client(request)
    events = list(client.watch_events(newest_first=True, before_cursor=before, limit=PAGE))
    names = {t.type_code: t.name for t in client.all_licence_types()}
    rows = event_rows(events, names)
    context = {
        "rows": rows,
        "before": before,
        "older": rows[-1]["cursor"] if len(rows) == PAGE else None,
    }
    return render(request, "operator_events.html", context)


ROUTES = [Route("/operator/events", events_page, methods=["GET"])]
