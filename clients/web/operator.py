"""The operator desk (证照管理): issue, change, renew, suspend, reinstate, revoke and cancel a
licence.

Screens (role ``operator``, at an issuing department): ``/operator`` — the licence types the
department issues and a field to find one of its licences; ``/operator/issue/<type>`` — the
issue form, built from the type's field schema (read from the catalogue); ``/operator/licences/
<licence id>`` — a licence with the forms of the acts its status allows. Bulk import is
:mod:`clients.web.operator_bulk`, the recent events :mod:`clients.web.operator_events`.

Views are thin: read the form, act once for its key (:mod:`clients.web.once`, the key also sent
to the store as the request's ``idempotency_key``, so the store too recognises a retry), put the
store's field violations beside their inputs (nothing is stored until the whole form is
right), and on success redirect to the licence (a reload does not post again).

The desk reads a licence with :data:`PURPOSE` and :data:`CASE_NUMBER` (:func:`read_licence`): a
licence whose holder is a person is read only with both (the store refuses it otherwise), and
the holder's access record ("who used my data") then names the issuing department's own
management of it, and the staff member.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from clients.client import YihaoClient
from clients.web import once
from clients.web.auth import posted_by, requires
from clients.web.desk import desk_of
from clients.web.templating import render
from clients.web.viewmodels import Label
from clients.web.viewmodels_operator import (
    ACTIONS,
    CONFIRM,
    NOT_CONFIRMED,
    Input,
    changed_fields,
    form_errors,
    issue_inputs,
    licence_view,
    schema_inputs,
)
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    YihaoError,
)

__all__ = ["CASE_NUMBER", "PURPOSE", "ROUTES", "operator_client", "posted", "read_licence"]

#: Why the operator desk reads a licence: the issuing department managing its own licences.
PURPOSE = "证照管理"
#: The case it is read for: the department's own licence file (there is no outside case; the
#: access record also names the licence, the department and the staff member).
CASE_NUMBER = "发证机关证照档案"

Endpoint = Callable[[Request], Response]
_TYPE_CODE = re.compile(r"^[0-9A-Z]{18}[0-9]{3}$")
_LICENCE_ID = re.compile(r"^1\.2\.156\.3005\.2\.[0-9A-Za-z.]{1,100}$")
_NO_KEY = Label(
    "表单缺少提交编号（idempotency_key），请刷新页面后重新提交。",
    "The form lacks its submission key (idempotency_key): reload the page and send it again.",
)
_CHANGE_INPUTS = (
    Input("holder_name", Label("持证主体名称", "holder name"), "text", False, 200),
    Input("reason", Label("变更原因", "reason"), "text", False, 500),
)
_RENEW_INPUTS = (
    Input(
        "valid_until",
        Label("新的有效期至", "new valid until"),
        "date",
        False,
        0,
        Label("留空则为今天加类型默认有效期", "empty: today + the type's default validity"),
    ),
    Input("reason", Label("延续原因", "reason"), "text", False, 500),
)
_STATUS_INPUTS = (
    Input("reason_code", Label("原因", "reason"), "select", True),
    Input(
        "reason_text",
        Label("说明", "explanation"),
        "area",
        False,
        500,
        Label("原因为“其他”时必填", "required when the reason is Other"),
    ),
)


#: A POST view for operators (the form read, then the view in the thread pool).
posted = posted_by("operator")


def operator_client(request: Request) -> YihaoClient:
    """The signed-in operator's client (their department's certificate, their staff id)."""
    return desk_of(request).backend.client(request.state.account)


def _text(request: Request, name: str) -> str:
    raw = request.state.form.get(name, "")
    return raw.strip() if isinstance(raw, str) else ""


def _licence_type(client: YihaoClient, type_code: str) -> pb.LicenceType:
    if not _TYPE_CODE.match(type_code):
        raise HTTPException(404)
    try:
        return client.get_licence_type(type_code=type_code)
    except NotFound as exc:
        raise HTTPException(404) from exc


def _act(request: Request, call: Callable[[str], pb.Licence]) -> tuple[pb.Licence, bool]:
    """Run the store call once for the form's key (the key is also its idempotency key)."""
    key = once.read_form_key(request.state.form.get(once.IDEMPOTENCY_FIELD))
    if key is None:
        raise InvalidArgument.field("_form", _NO_KEY.en)
    desk = desk_of(request)
    account_id = request.state.account.account_id
    return once.run_message(
        desk.engine, key, account_id, lambda: call(key), pb.Licence, clock=desk.clock
    )


def _done(lic: pb.Licence, replayed: bool) -> Response:
    flash = "op_once" if replayed else "op_done"
    return RedirectResponse(f"/operator/licences/{lic.licence_id}?m={flash}", status_code=303)


def _refusal(exc: YihaoError, inputs: tuple[Input, ...] | list[Input]) -> dict[str, Label]:
    """A refused act as errors beside the inputs (or for the whole form)."""
    if isinstance(exc, InvalidArgument) and exc.violations:
        if exc.violations[0].field == "_form":
            return {"_form": _NO_KEY}
        return form_errors(exc.violations, inputs)
    if isinstance(exc, AlreadyExists):
        return {
            "licence_number": Label(
                "证照编号：该类型下已有此编号的证照", f"licence number: {exc.message}"
            )
        }
    return {"_form": Label(f"未办理：{exc.message}", f"Not done: {exc.message}")}


_REF_RULE = "须为“类型代码:证照编号”或电子证照标识"
_REFUSED = (InvalidArgument, AlreadyExists, FailedPrecondition, Conflict)


# --- the hub --------------------------------------------------------------------------------


def _hub(request: Request, errors: dict[str, Label] | None = None, status: int = 200) -> Response:
    client = operator_client(request)
    code = request.state.account.department
    types = [
        {"code": t.type_code, "name": t.name, "fields": len(t.fields)}
        for t in client.all_licence_types(issuer_code=code)
    ]
    context = {"types": types, "errors": errors or {}, "values": {}}
    if errors:
        context["values"] = {"licence": _text(request, "licence")}
    return render(request, "operator.html", context, status=status)


@requires("operator")
def hub(request: Request) -> Response:
    """GET /operator: the types the department issues (each opens its issue form) and a field
    to find one of its licences."""
    return _hub(request)


def find(request: Request) -> Response:
    """POST /operator/find: a licence by TYPE_CODE:NUMBER or e-licence identifier → its page."""
    text = _text(request, "licence")
    if not text:
        return _hub(request, {"licence": Label("证照：必填", "licence: is required")}, 400)
    try:
        lic = read_licence(operator_client(request), text)
    except (InvalidArgument, NotFound) as exc:
        words = (
            "未找到该证照" if isinstance(exc, NotFound) else "须为“类型代码:证照编号”或电子证照标识"
        )
        return _hub(request, {"licence": Label(f"证照：{words}", f"licence: {exc.message}")}, 400)
    return RedirectResponse(f"/operator/licences/{lic.licence_id}", status_code=303)


# --- issue ----------------------------------------------------------------------------------


def _issue_page(
    request: Request,
    lt: pb.LicenceType,
    errors: dict[str, Label] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "type": {"code": lt.type_code, "name": lt.name},
        "inputs": issue_inputs(lt),
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "operator_issue.html", context, status=status)


@requires("operator")
def issue_page(request: Request) -> Response:
    """GET /operator/issue/{type_code}: the issue form, built from the type's field schema."""
    lt = _licence_type(operator_client(request), request.path_params["type_code"])
    return _issue_page(request, lt)


def issue(request: Request) -> Response:
    """POST /operator/issue/{type_code}: issue the licence once; the store's violations go
    beside their inputs and nothing is stored until every field is right."""
    client = operator_client(request)
    lt = _licence_type(client, request.path_params["type_code"])
    inputs = issue_inputs(lt)
    v = {i.name: _text(request, i.name) for i in inputs}
    data = {n.removeprefix("fields."): x for n, x in v.items() if n.startswith("fields.") and x}
    holder = common_pb2.Holder(
        kind=lt.holder_kind, number=v["holder_number"], name=v["holder_name"]
    )

    def call(key: str) -> pb.Licence:
        return client.issue_licence(
            idempotency_key=key,
            type_code=lt.type_code,
            licence_number=v["licence_number"],
            holder=holder,
            fields=data,
            valid_from=v["valid_from"],
            valid_until=v["valid_until"],
        )

    try:
        lic, replayed = _act(request, call)
    except _REFUSED as exc:
        return _issue_page(request, lt, _refusal(exc, inputs), v, 400)
    return _done(lic, replayed)


# --- a licence and its acts -----------------------------------------------------------------


def _licence_id(request: Request) -> str:
    licence_id = str(request.path_params["licence_id"])
    if not _LICENCE_ID.match(licence_id):
        raise HTTPException(404)
    return licence_id


def read_licence(client: YihaoClient, licence: str) -> pb.Licence:
    """The licence ``licence`` names (TYPE_CODE:NUMBER or its identifier), read with the desk's
    :data:`PURPOSE` and :data:`CASE_NUMBER` (a person's licence needs both)."""
    return client.get_licence(licence=licence, purpose=PURPOSE, case_number=CASE_NUMBER)


def _current(client: YihaoClient, licence_id: str) -> pb.Licence:
    try:
        return read_licence(client, licence_id)
    except NotFound as exc:
        raise HTTPException(404) from exc


def _licence_page(
    request: Request,
    lic: pb.Licence,
    lt: pb.LicenceType,
    failed: str = "",
    errors: dict[str, Label] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The licence and its acts; ``failed`` names the act whose form is shown with
    ``errors`` and what was typed (``values``)."""
    current = {f"fields.{n}": x for n, x in lic.fields.items()}
    current["holder_name"] = lic.holder.name
    context = {
        "lic": licence_view(lic, lt),
        "change_inputs": [*schema_inputs(lt, change=True), *_CHANGE_INPUTS],
        "renew_inputs": _RENEW_INPUTS,
        "status_inputs": _STATUS_INPUTS,
        "confirm": CONFIRM,
        "failed": failed,
        "errors": errors or {},
        "current": current,
        "values": values or {},
    }
    return render(request, "operator_licence.html", context, status=status)


@requires("operator")
def licence_page(request: Request) -> Response:
    """GET /operator/licences/{licence_id}: the licence, its data, the acts it allows."""
    client = operator_client(request)
    lic = _current(client, _licence_id(request))
    return _licence_page(request, lic, _licence_type(client, lic.type_code))


def licence_act(request: Request) -> Response:
    """POST /operator/licences/{licence_id}/{action}: change, renew, suspend, reinstate,
    revoke or cancel, once per form."""
    action = ACTIONS.get(str(request.path_params["action"]))
    if action is None:
        raise HTTPException(404)
    client = operator_client(request)
    licence_id = _licence_id(request)
    lic = _current(client, licence_id)
    lt = _licence_type(client, lic.type_code)
    if action.final and _text(request, "confirm") != "yes":  # nothing is sent to the store
        values = {i.name: _text(request, i.name) for i in _STATUS_INPUTS}
        return _licence_page(request, lic, lt, action.key, {"confirm": NOT_CONFIRMED}, values, 400)
    call, inputs, values = _call_for(request, client, action.key, lic, lt)
    if call is None:
        nothing = {"_form": Label("未作任何变更", "Nothing was changed.")}
        return _licence_page(request, lic, lt, action.key, nothing, values, 400)
    try:
        done, replayed = _act(request, call)
    except _REFUSED as exc:
        return _licence_page(request, lic, lt, action.key, _refusal(exc, inputs), values, 400)
    return _done(done, replayed)


def _call_for(
    request: Request, client: YihaoClient, action: str, lic: pb.Licence, lt: pb.LicenceType
) -> tuple[Callable[[str], pb.Licence] | None, list[Input], dict[str, str]]:
    """(the store call for ``action`` or None if there is nothing to do, its inputs, the
    values posted)."""
    ref = pb.LicenceRef(licence_id=lic.licence_id)
    if action == "change":
        inputs = [*schema_inputs(lt, change=True), *_CHANGE_INPUTS]
        values = {i.name: _text(request, i.name) for i in inputs}
        now = {n: x for n, x in lic.fields.items()}
        posted_fields = {
            n.removeprefix("fields."): x for n, x in values.items() if n.startswith("fields.")
        }
        data = changed_fields(now, posted_fields)
        name = values["holder_name"] if values["holder_name"] != lic.holder.name else ""
        if not data and not name:
            return None, inputs, values

        def change(key: str) -> pb.Licence:
            return client.change_licence(
                idempotency_key=key,
                licence=ref,
                fields=data,
                holder_name=name,
                reason=values["reason"],
            )

        return change, inputs, values
    if action == "renew":
        inputs = list(_RENEW_INPUTS)
        values = {i.name: _text(request, i.name) for i in inputs}

        def renew(key: str) -> pb.Licence:
            return client.renew_licence(
                idempotency_key=key,
                licence=ref,
                valid_until=values["valid_until"],
                reason=values["reason"],
            )

        return renew, inputs, values
    inputs = list(_STATUS_INPUTS)
    values = {i.name: _text(request, i.name) for i in inputs}
    method: Callable[..., pb.Licence] = getattr(client, f"{action}_licence")  # suspend,
    # reinstate, revoke or cancel (the action is one of ACTIONS, never a posted name)

    def status(key: str) -> pb.Licence:
        return method(
            idempotency_key=key,
            licence=ref,
            reason_code=values["reason_code"],
            reason_text=values["reason_text"],
        )

    return status, inputs, values


ROUTES = [
    Route("/operator", hub, methods=["GET"]),
    Route("/operator/find", posted(find), methods=["POST"]),
    Route("/operator/issue/{type_code}", issue_page, methods=["GET"]),
    Route("/operator/issue/{type_code}", posted(issue), methods=["POST"]),
    Route("/operator/licences/{licence_id}", licence_page, methods=["GET"]),
    Route("/operator/licences/{licence_id}/{action}", posted(licence_act), methods=["POST"]),
]
