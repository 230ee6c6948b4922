"""My consents (授权用证) on the holder's page: grant, see every use, revoke.

``/me/consents`` lists the holder's grants (``ListConsents`` naming the holder, through the
portal) with each use and refused attempt, and a form to grant a department named licence
types for one matter (a service or assistance item code and/or a case number) for a number of
days. The desk checks the form first; the services' own refusals (a grant longer than
``YIHAO_CONSENT_MAX_DAYS``, an unknown item…) are shown beside the field they name. A form
posted twice grants once: the form's key is claimed in the desk's database
(:mod:`clients.web.once`) and sent on as ``GrantConsent``'s ``idempotency_key``, so a retry
the store sees is answered with the first grant too.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from clients.client import YihaoClient
from clients.web import once
from clients.web.desk import desk_of
from clients.web.holder import holder_licences
from clients.web.holder_desk import holder_desk_of
from clients.web.holder_identity import is_resident_id
from clients.web.holder_sessions import HOLDER_PATH
from clients.web.holder_signin import holder_required
from clients.web.once import IDEMPOTENCY_FIELD, form_key, read_form_key
from clients.web.templating import render
from clients.web.viewmodels import Label
from clients.web.viewmodels_holder import (
    GRANT_FIELDS,
    check_grant_form,
    consent_rows,
    grant_errors,
)
from yihao.v1 import common_pb2 as cpb
from yihao_shared.errors import InvalidArgument, NotFound

__all__ = ["ROUTES"]

_GRANT_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NO_KEY = Label(
    "表单缺少提交编号，请刷新页面后重新提交。",
    "The form lacks its submission key: reload the page and send it again.",
)


def _actor(request: Request) -> str:
    """Who claims a form's key in the desk's acting-once table: this holder session (a hash;
    the holder has no staff account, and the number is not written there)."""
    digest = hashlib.sha256(request.state.session.session_id.encode()).hexdigest()
    return f"holder:{digest[:32]}"


def _choices(client: YihaoClient, holder: str) -> tuple[dict[str, str], dict[str, str]]:
    """(departments by code, the licence types of the holder's kind by code — a person's or
    an organisation's) for the form and the list."""
    departments = {d.credit_code: d.name for d in client.list_departments().departments}
    kind = cpb.HOLDER_KIND_PERSON if is_resident_id(holder) else cpb.HOLDER_KIND_ORGANISATION
    types = {t.type_code: t.name for t in client.all_licence_types() if t.holder_kind == kind}
    return departments, types


def _own_licences(request: Request) -> list[tuple[str, str]]:
    """(licence id, what the holder sees it as) of the holder's licences, for a grant of one."""
    return [
        (lic.licence_id, f"{lic.type_name} {lic.licence_number}")
        for lic in holder_licences(request)
    ]


def _page(
    request: Request, form: dict[str, Any] | None = None, status: int = 200, **extra: Any
) -> Response:
    client = holder_desk_of(request).portal()
    departments, types = _choices(client, request.state.holder.holder_number)
    grants = client.list_consents(holder_number=request.state.holder.holder_number).grants
    context = {
        "section": "consents",
        "licences": _own_licences(request),
        "rows": consent_rows(grants, departments, types),
        "departments": sorted(departments.items(), key=lambda d: d[1]),
        "types": sorted(types.items(), key=lambda t: t[1]),
        "form": form or {"values": {"valid_days": "30"}, "types": [], "errors": {}},
        "form_key": form_key(),
        "key_field": IDEMPOTENCY_FIELD,
        **extra,
    }
    return render(request, "holder_consents.html", context, status)


@holder_required
def consents_page(request: Request) -> Response:
    """GET /me/consents: my grants with their uses, and the form to grant."""
    return _page(request)


async def grant(request: Request) -> Response:
    """POST /me/consents: grant, or show the form's errors beside its fields."""
    request.state.form = await request.form()
    return await run_in_threadpool(_grant, request)


@holder_required
def _grant(request: Request) -> Response:
    posted = request.state.form
    values = {name: str(posted.get(name, "")).strip() for name in GRANT_FIELDS}
    chosen = [str(t) for t in posted.getlist("types")]
    client = holder_desk_of(request).portal()
    departments, types = _choices(client, request.state.holder.holder_number)
    own = [licence_id for licence_id, _ in _own_licences(request)] if values["licence"] else []
    form = check_grant_form(values, chosen, departments, types, own)
    key = read_form_key(posted.get(IDEMPOTENCY_FIELD))
    if key is None:
        form.errors.setdefault("_form", _NO_KEY)
    shown = {"values": form.values, "types": form.types, "errors": form.errors}
    if form.errors or key is None:
        return _page(request, shown, 400)
    number = request.state.holder.holder_number

    def act() -> str:
        made = client.grant_consent(
            holder_number=number,
            department_code=values["department"],
            type_codes=chosen,
            licence_id=values["licence"],
            item_code=values["item_code"],
            case_number=values["case_number"],
            valid_days=int(values["valid_days"]),
            idempotency_key=key,  # the form's key to the store too: acting once end to end
            acting_person=request.state.holder.actor,  # an organisation's representative
        )
        return made.grant_id

    try:
        desk = desk_of(request)
        grant_id, _ = once.run(desk.engine, key, _actor(request), act, clock=desk.clock)
    except InvalidArgument as exc:
        shown["errors"] = grant_errors(exc)
        return _page(request, shown, 400)
    return _page(request, granted=grant_id)


async def revoke(request: Request) -> Response:
    """POST /me/consents/{grant_id}/revoke: withdraw a grant at once."""
    return await run_in_threadpool(_revoke, request)


@holder_required
def _revoke(request: Request) -> Response:
    grant_id = request.path_params["grant_id"]
    if not (8 <= len(grant_id) <= 64 and set(grant_id) <= _GRANT_ID_CHARS):
        raise HTTPException(404)
    client = holder_desk_of(request).portal()
    try:
        client.revoke_consent(
            grant_id=grant_id,
            holder_number=request.state.holder.holder_number,
            acting_person=request.state.holder.actor,
        )
    except NotFound as exc:
        raise HTTPException(404) from exc
    return RedirectResponse(f"{HOLDER_PATH}/consents?m=consent_revoked", status_code=303)


ROUTES = [
    Route(f"{HOLDER_PATH}/consents", consents_page, methods=["GET"]),
    Route(f"{HOLDER_PATH}/consents", grant, methods=["POST"]),
    Route(f"{HOLDER_PATH}/consents/{{grant_id}}/revoke", revoke, methods=["POST"]),
]
