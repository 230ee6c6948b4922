"""The holder's page (``/me``): my licences, 亮证 (show a licence), who used my data.

Every call goes through the holder portal's certificate (:mod:`clients.web.holder_desk`) for
the signed-in holder's own number, which stays in the session (sealed in its row) and POST bodies —
never in a URL or a log line. My consents are :mod:`clients.web.holder_consents`.

亮证: the page asks the verifier for a QR payload of the licence (``IssueQrPayload``: signed
by the verifier's QR key, naming the licence and its current version's hash, expiring after
``YIHAO_WEB_HOLDER_QR_SECONDS``; no holder number inside) and draws it as SVG on the server.
htmx fetches a fresh one at two thirds of its life. The counter desk types or scans it; the
verifier checks signature and expiry before the licence (an expired or forged payload is
``CANNOT_CHECK`` ``QR_EXPIRED`` / ``QR_SIGNATURE_INVALID``, never ``VALID``). A licence
is shown only when it is one the portal lists for this holder.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from clients.log_proof import check_inclusion
from clients.web.holder_desk import holder_desk_of
from clients.web.holder_sessions import HOLDER_PATH
from clients.web.holder_signin import holder_required
from clients.web.qr import qr_svg
from clients.web.templating import render
from clients.web.viewmodels import china_time
from clients.web.viewmodels_holder import licence_rows, proof_view, record_rows
from yihao.v1 import licence_store_pb2 as pb

__all__ = ["ROUTES", "holder_licences"]

#: Most licences and records a page lists.
PAGE_SIZE = 100
_LICENCE_ID = re.compile(r"^[0-9A-Za-z.\-]{1,128}$")
_LOG_REF = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
#: Why the portal reads a person's licences here (the services require a purpose and a case
#: for a person's data; the read is recorded, and the holder sees it as their own).
OWN_PURPOSE, OWN_CASE = "持证人本人查看 the holder's own view", "SELF"


def holder_licences(request: Request) -> list[pb.Licence]:
    """The signed-in holder's licences, as the portal lists them."""
    desk = holder_desk_of(request)
    answer = desk.portal().list_licences_by_holder(
        holder_number=request.state.holder.holder_number,
        page_size=PAGE_SIZE,
        purpose=OWN_PURPOSE,
        case_number=OWN_CASE,
    )
    return list(answer.licences)


@holder_required
def my_licences(request: Request) -> Response:
    """GET /me: my licences, each with its verdict now and a 亮证 button when valid."""
    rows = licence_rows(holder_licences(request))
    return render(request, "holder_licences.html", {"rows": rows, "section": "licences"})


def _own_licence(request: Request) -> pb.Licence:
    licence_id = request.path_params["licence_id"]
    if not _LICENCE_ID.match(licence_id):
        raise HTTPException(404)
    for lic in holder_licences(request):
        if lic.licence_id == licence_id:
            return lic
    raise HTTPException(404)


def _qr(request: Request, lic: pb.Licence) -> dict[str, Any]:
    desk = holder_desk_of(request)
    ref = pb.LicenceRef(licence_id=lic.licence_id)
    qr = desk.portal().issue_qr_payload(licence=ref, ttl_seconds=desk.qr_seconds)
    expires = qr.expires_at.seconds + qr.expires_at.nanos / 1e9
    return {
        "payload": qr.payload,
        "svg": qr_svg(qr.payload, title="亮证二维码 Licence QR code"),
        "expires": china_time(expires),
        "expires_epoch": int(expires),
        "seconds": desk.qr_seconds,
        "refresh": max(10, desk.qr_seconds * 2 // 3),
        "licence_id": lic.licence_id,
    }


@holder_required
def show_licence(request: Request) -> Response:
    """GET /me/show/{licence_id}: the licence's QR code, refreshed before it expires."""
    lic = _own_licence(request)
    rows = licence_rows([lic])
    context = {"licence": rows[0], "qr": _qr(request, lic), "section": "licences"}
    return render(request, "holder_show.html", context)


@holder_required
def show_qr(request: Request) -> Response:
    """GET /me/show/{licence_id}/qr: a fresh QR code (the htmx refresh)."""
    lic = _own_licence(request)
    return render(request, "_holder_qr.html", {"qr": _qr(request, lic)})


@holder_required
def my_records(request: Request) -> Response:
    """GET /me/records: who used my data (department, staff where known, purpose, case,
    time), each with a button checking its log entry against the signed log."""
    desk = holder_desk_of(request)
    answer = desk.portal().list_access_records(
        holder_number=request.state.holder.holder_number, page_size=PAGE_SIZE
    )
    context = {"rows": record_rows(answer.records), "section": "records"}
    return render(request, "holder_records.html", context)


async def check_record(request: Request) -> Response:
    """POST /me/records/check: the inclusion proof of one record's log entry, checked here
    (head signature, leaf hash, audit path) — the result cell (htmx) or the page."""
    form = await request.form()
    request.state.log_ref = str(form.get("log_ref", ""))
    return await run_in_threadpool(_check_record, request)


@holder_required
def _check_record(request: Request) -> Response:
    ref = request.state.log_ref
    if not _LOG_REF.match(ref):
        raise HTTPException(400)
    check = check_inclusion(holder_desk_of(request).portal(), ref)
    return render(request, "_holder_proof.html", {"proof": proof_view(check), "ref": ref})


ROUTES = [
    Route(HOLDER_PATH, my_licences, methods=["GET"]),
    Route(f"{HOLDER_PATH}/show/{{licence_id}}", show_licence, methods=["GET"]),
    Route(f"{HOLDER_PATH}/show/{{licence_id}}/qr", show_qr, methods=["GET"]),
    Route(f"{HOLDER_PATH}/records", my_records, methods=["GET"]),
    Route(f"{HOLDER_PATH}/records/check", check_record, methods=["POST"]),
]
