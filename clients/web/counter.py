"""The counter desk (窗口核验): verify a licence the applicant presents, then print a receipt.

Screens (role ``handler``): ``/counter`` — one field for the licence (TYPE_CODE:NUMBER, the
e-licence identifier, or a scanned QR payload ``YH1.…``: a barcode scanner types into the
focused field and presses Enter) plus the number and name the applicant presents → the
verdict; ``/counter/holder`` (an applicant's licences of chosen types); ``/counter/document``
(upload a presented signed document); ``/counter/materials`` (免提交: what the applicant need
not bring); ``/counter/receipts/<id>`` (the printable receipt with its QR code).

Views are thin: read the form, check what the desk can check itself (every error names the
field and the rule), call the services once per submitted form (:mod:`clients.web.once`:
a second submission of the same form shows the first answer, the same receipt),
turn the answer into a view model (:mod:`clients.web.viewmodels_counter`), render. Personal
numbers travel only in POST bodies, never in URLs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clients.web.auth import posted_by, requires
from clients.web.counter_forms import (
    DOCUMENT_FIELDS,
    HOLDER_FIELDS,
    MATERIALS_FIELDS,
    VERIFY_FIELDS,
    FormCheck,
    check_document,
    check_holder,
    check_materials,
    check_verify,
    values_of,
)
from clients.web.desk import desk_of
from clients.web.once import IDEMPOTENCY_FIELD, form_key, read_form_key, run_message
from clients.web.qr import qr_svg
from clients.web.templating import render
from clients.web.viewmodels import Label
from clients.web.viewmodels_counter import (
    field_errors,
    holder_rows,
    licence_input_kind,
    materials_view,
    receipt_view,
    verdict_view,
)
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import InvalidArgument, NotFound

__all__ = ["ROUTES"]

M = TypeVar("M", bound=Message)
Endpoint = Callable[[Request], Response]
_RECEIPT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NO_KEY = Label(
    "表单缺少提交编号（idempotency_key），请刷新页面后重新提交。",
    "The form lacks its submission key (idempotency_key): reload the page and send it again.",
)


#: A POST view for handlers (the form read, then the view in the thread pool).
_posted = posted_by("handler")


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    context.setdefault("errors", {})
    context.setdefault("values", {})
    context["form_key"] = form_key()
    context["key_field"] = IDEMPOTENCY_FIELD
    return render(request, template, context, status=status)


def _act(
    request: Request,
    template: str,
    check: FormCheck,
    act: tuple[Callable[[], M], type[M], Callable[[M], dict[str, Any]]],
    context: dict[str, Any],
) -> Response:
    """Refuse a bad form (400, errors by field), else act once for this form's key: ``act``
    is (the call, the message it answers, the answer's view); a second submission of the
    form shows the first answer again."""
    errors = dict(check.errors)
    key = read_form_key(request.state.form.get(IDEMPOTENCY_FIELD))
    if key is None:
        errors["_form"] = _NO_KEY
    if errors or key is None:
        return _page(request, template, {**context, "errors": errors, "values": check.values}, 400)
    call, kind, view = act
    desk = desk_of(request)
    account_id = request.state.account.account_id
    try:
        answer, replayed = run_message(desk.engine, key, account_id, call, kind, clock=desk.clock)
        result = view(answer)
    except InvalidArgument as exc:
        errors = field_errors(exc.violations) or {"_form": Label("输入有误", exc.message)}
        return _page(request, template, {**context, "errors": errors, "values": check.values}, 400)
    kept = {k: check.values.get(k, "") for k in ("purpose", "case_number")}
    return _page(request, template, {**context, **result, "replayed": replayed, "values": kept})


# --- verify one licence ---------------------------------------------------------------------


@requires("handler")
def counter_page(request: Request) -> Response:
    """GET /counter: the verification form, the licence field focused."""
    return _page(request, "counter.html", {})


def counter_verify(request: Request) -> Response:
    """POST /counter: verify the licence typed or scanned, with what the applicant presents."""
    check = check_verify(values_of(request.state.form, VERIFY_FIELDS))
    v = check.values
    client = desk_of(request).backend.client(request.state.account)

    scanned = licence_input_kind(v["licence"]) == "qr"

    def call() -> vpb.Verification:
        presented: dict[str, Any] = {
            "presented_holder_number": v["holder_number"],
            "presented_holder_name": v["holder_name"],
            "purpose": v["purpose"],
            "case_number": v["case_number"],
        }
        if scanned:
            return client.verify_document(qr_payload=v["licence"], **presented)
        return client.verify_licence(licence=v["licence"], **presented)

    def view(answer: vpb.Verification) -> dict[str, Any]:
        typed = "" if scanned else v["licence"]
        return {"verdict": verdict_view(answer, typed_licence=typed), "scanned": scanned}

    return _act(request, "counter.html", check, (call, vpb.Verification, view), {})


# --- verify by holder -------------------------------------------------------------------------


def _types(request: Request) -> list[dict[str, str]]:
    client = desk_of(request).backend.client(request.state.account)
    return [{"code": t.type_code, "name": t.name} for t in client.all_licence_types()]


@requires("handler")
def holder_page(request: Request) -> Response:
    """GET /counter/holder: an applicant's licences of chosen types."""
    return _page(request, "counter_holder.html", {"types": _types(request), "chosen": []})


def holder_verify(request: Request) -> Response:
    """POST /counter/holder: verify the applicant's licences of the chosen types."""
    form = request.state.form
    chosen = [str(t) for t in form.getlist("types")]
    check = check_holder(values_of(form, HOLDER_FIELDS), chosen)
    v = check.values
    client = desk_of(request).backend.client(request.state.account)

    def call() -> vpb.VerifyByHolderResponse:
        return client.verify_by_holder(
            holder_number=v["holder_number"],
            type_codes=chosen,
            presented_holder_name=v["holder_name"],
            purpose=v["purpose"],
            case_number=v["case_number"],
            valid_only=v["valid_only"] == "1",
        )

    def view(answer: vpb.VerifyByHolderResponse) -> dict[str, Any]:
        return {"rows": holder_rows(answer.verifications), "asked_number": v["holder_number"]}

    context = {"types": _types(request), "chosen": chosen}
    act = (call, vpb.VerifyByHolderResponse, view)
    return _act(request, "counter_holder.html", check, act, context)


# --- a presented signed document ------------------------------------------------------------


@requires("handler")
def document_page(request: Request) -> Response:
    """GET /counter/document: upload the signed document the applicant presents."""
    return _page(request, "counter_document.html", {})


def document_verify(request: Request) -> Response:
    """POST /counter/document: check the uploaded document's signature, issuer key, status."""
    form = request.state.form
    check, document = check_document(values_of(form, DOCUMENT_FIELDS), form.get("document"))
    v = check.values
    client = desk_of(request).backend.client(request.state.account)

    def call() -> vpb.Verification:
        return client.verify_document(
            signed_document=document,
            presented_holder_number=v["holder_number"],
            presented_holder_name=v["holder_name"],
            purpose=v["purpose"],
            case_number=v["case_number"],
        )

    def view(answer: vpb.Verification) -> dict[str, Any]:
        return {"verdict": verdict_view(answer)}

    act = (call, vpb.Verification, view)
    return _act(request, "counter_document.html", check, act, {})


# --- materials exemption (免提交) -------------------------------------------------------------


def _items(request: Request) -> list[dict[str, str]]:
    client = desk_of(request).backend.client(request.state.account)
    return [{"code": i.code, "name": i.name} for i in client.list_service_items().items]


@requires("handler")
def materials_page(request: Request) -> Response:
    """GET /counter/materials: pick a service item, type the applicant's number."""
    return _page(request, "counter_materials.html", {"items": _items(request)})


def materials_check(request: Request) -> Response:
    """POST /counter/materials: which materials valid e-licences cover, with receipts."""
    items = _items(request)
    check = check_materials(values_of(request.state.form, MATERIALS_FIELDS), items)
    v = check.values
    client = desk_of(request).backend.client(request.state.account)

    def call() -> vpb.MaterialsCheck:
        return client.check_materials(
            item_code=v["item"],
            applicant_number=v["holder_number"],
            purpose=v["purpose"],
            case_number=v["case_number"],
        )

    def view(answer: vpb.MaterialsCheck) -> dict[str, Any]:
        return {"materials": materials_view(answer), "asked_number": v["holder_number"]}

    context = {"items": items, "chosen_item": v["item"]}
    act = (call, vpb.MaterialsCheck, view)
    return _act(request, "counter_materials.html", check, act, context)


# --- the printable receipt ------------------------------------------------------------------


@requires("handler")
def receipt_page(request: Request) -> Response:
    """GET /counter/receipts/<id>: the receipt, checked by the verifier, on an A4 page with a
    QR code of its id (anyone can check it later: ``yihao receipt <id>``)."""
    receipt_id = request.path_params["receipt_id"]
    if not _RECEIPT_ID.match(receipt_id):
        raise HTTPException(404)
    client = desk_of(request).backend.client(request.state.account)
    try:
        check = client.verify_receipt(receipt_id=receipt_id)
    except NotFound as exc:
        raise HTTPException(404) from exc
    context = {"receipt": receipt_view(check), "qr": qr_svg(receipt_id)}
    return render(request, "receipt.html", context)


ROUTES = [
    Route("/counter", counter_page, methods=["GET"]),
    Route("/counter", _posted(counter_verify), methods=["POST"]),
    Route("/counter/holder", holder_page, methods=["GET"]),
    Route("/counter/holder", _posted(holder_verify), methods=["POST"]),
    Route("/counter/document", document_page, methods=["GET"]),
    Route("/counter/document", _posted(document_verify), methods=["POST"]),
    Route("/counter/materials", materials_page, methods=["GET"]),
    Route("/counter/materials", _posted(materials_check), methods=["POST"]),
    Route("/counter/receipts/{receipt_id}", receipt_page, methods=["GET"]),
]
