"""The holder's sign-in and sign-out (``/me/signin``), and :func:`holder_required`.

Two ways in (:mod:`clients.web.holder_identity`): the portal identity provider's signed
assertion (production); a one-time code written to the server log, only with
``YIHAO_WEB_DEV`` (development). Either starts a new holder session
(:mod:`clients.web.holder_sessions`); the ID number is only ever in POST bodies, memory
and, sealed, the session's row.

The portal's way, bound to the browser that started it (as OpenID Connect's ``nonce``):

1. ``GET /me/signin/portal`` (a link on the sign-in page) sends the browser to the provider
   (``YIHAO_WEB_HOLDER_IDP_URL``) with ``client_id``, ``redirect_uri``, ``response_mode``
   ``form_post`` and the ``nonce`` of this browser's anonymous holder session.
2. The provider posts the assertion to ``/me/signin/assertion``. That post comes from the
   provider's site, so the SameSite=Strict holder cookie is not sent with it: the desk only
   answers a page holding the assertion in a form to ``/me/signin/complete`` (submitted by a
   button, or by ``holder_continue.js``).
3. ``POST /me/signin/complete`` comes from the desk's own page, with the cookie: the assertion
   must carry this session's nonce. An assertion someone obtained for their own browser and
   made a victim's browser post signs the victim in as nobody (no login CSRF); a post without
   the cookie has no session and no nonce.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from clients.web.holder_desk import HolderDesk, holder_desk_of
from clients.web.holder_identity import AssertionRefused, is_holder_number, sign_in_nonce
from clients.web.holder_sessions import HOLDER_PATH, HolderSession
from clients.web.templating import render
from clients.web.viewmodels import Label

__all__ = ["CSRF_EXEMPT", "ROUTES", "holder_required"]

LOG = logging.getLogger("yihao.web.holder")
Endpoint = Callable[[Request], Response]
ASSERTION_PATH = f"{HOLDER_PATH}/signin/assertion"
COMPLETE_PATH = f"{HOLDER_PATH}/signin/complete"
MAX_ASSERTION_CHARS = 4096
#: The identity provider posts the assertion from its own site (no CSRF token of ours, and
#: nothing is done with it there but a page to carry it on); the completing post is bound to
#: the browser's session by the assertion's signed nonce, which does what a CSRF token does.
CSRF_EXEMPT = frozenset({ASSERTION_PATH, COMPLETE_PATH})

_NUMBER_RULE = Label(
    "证件号码：须为 18 位居民身份证号码或统一社会信用代码，末位校验码正确",
    "number: must be an 18-character resident identity number or unified social credit code "
    "with a correct check character",
)
_CODE_WRONG = Label(
    "验证码：不正确，还可再试 {tries} 次", "code: wrong; {tries} more tries before it lapses"
)
_CODE_GONE = Label(
    "验证码已失效（超时或错误次数过多），请重新获取。",
    "The code has lapsed (too old, or too many wrong tries): ask for a new one.",
)
_DEV_OFF = Label(
    "开发模式登录未开启（YIHAO_WEB_DEV）。请通过闽政通等门户登录。",
    "Development sign-in is off (YIHAO_WEB_DEV): sign in through the holder portal.",
)
_LIMITED = Label(
    "获取验证码过于频繁，请 15 分钟后再试。",
    "Too many codes asked from this address: try again in 15 minutes.",
)
_NO_PORTAL = Label(
    "本系统尚未配置门户身份凭证。",
    "No portal identity provider is configured on this desk.",
)
_START_AGAIN = Label(
    "登录已超时或未从本页开始，请重新登录。",
    "The sign-in timed out or was not started from this desk: sign in again.",
)
_REFUSED = Label(
    "门户身份凭证无效或已过期，请回到门户重新登录。",
    "The portal's sign-in assertion is not valid (or has expired): sign in at the portal again.",
)


def _set_cookie(response: Response, desk: HolderDesk, session_id: str) -> None:
    response.set_cookie(
        desk.cookie_name,
        session_id,
        max_age=int(desk.sessions.absolute_seconds),
        path=HOLDER_PATH,
        httponly=True,
        samesite="strict",
        secure=desk.settings.cookie_secure,
    )


def holder_required(endpoint: Endpoint) -> Endpoint:
    """A signed-in holder (``request.state.holder``), else the holder's sign-in page."""

    @functools.wraps(endpoint)
    def guarded(request: Request) -> Response:
        if getattr(request.state, "holder", None) is None:
            flash = "expired" if request.state.session_expired else "signin_required"
            return RedirectResponse(f"{HOLDER_PATH}/signin?m={flash}", status_code=303)
        return endpoint(request)

    return guarded


def _page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A sign-in page, made with an anonymous holder session for its CSRF token if needed."""
    desk = holder_desk_of(request)
    base = {
        "dev": desk.dev_codes is not None,
        "assertions": desk.assertions is not None,
        "errors": {},
    }
    if request.state.session is not None:
        return render(request, template, {**base, **context}, status)
    session = desk.sessions.create(None)
    request.state.session = session
    response = render(request, template, {**base, **context}, status)
    _set_cookie(response, desk, session.session_id)
    return response


def signin_page(request: Request) -> Response:
    """GET /me/signin: how to sign in (the development form when it is on)."""
    if request.state.holder is not None:
        return RedirectResponse(HOLDER_PATH, status_code=303)
    return _page(request, "holder_signin.html", {})


async def ask_code(request: Request) -> Response:
    """POST /me/signin/code (development only): log a code for the ID number typed."""
    form = await request.form()
    number = str(form.get("holder_number", "")).strip().upper()
    return await run_in_threadpool(_ask_code, request, number)


def _ask_code(request: Request, number: str) -> Response:
    desk = holder_desk_of(request)
    if desk.dev_codes is None:
        return _page(request, "holder_signin.html", {"refusal": _DEV_OFF}, 403)
    if not is_holder_number(number):
        return _page(
            request, "holder_signin.html", {"errors": {"holder_number": _NUMBER_RULE}}, 400
        )
    address = request.client.host if request.client else "-"
    if desk.dev_codes.limited(address):
        return _page(request, "holder_signin.html", {"refusal": _LIMITED}, 429)
    pending = desk.dev_codes.start(number, address)
    return _page(request, "holder_code.html", {"pending": pending})


async def check_code(request: Request) -> Response:
    """POST /me/signin/verify (development only): the code from the log signs the holder in."""
    form = await request.form()
    pending, code = str(form.get("pending", "")), str(form.get("code", ""))
    return await run_in_threadpool(_check_code, request, pending, code)


def _check_code(request: Request, pending: str, code: str) -> Response:
    desk = holder_desk_of(request)
    if desk.dev_codes is None:
        return _page(request, "holder_signin.html", {"refusal": _DEV_OFF}, 403)
    number, tries = desk.dev_codes.finish(pending, code)
    if number is None and tries > 0:
        wrong = Label(_CODE_WRONG.zh.format(tries=tries), _CODE_WRONG.en.format(tries=tries))
        context = {"pending": pending, "errors": {"code": wrong}}
        return _page(request, "holder_code.html", context, 400)
    if number is None:
        return _page(request, "holder_signin.html", {"refusal": _CODE_GONE}, 400)
    return _start(request, desk, number, "dev")


def _start(request: Request, desk: HolderDesk, number: str, via: str, actor: str = "") -> Response:
    """End the anonymous session, start the holder's (``actor``: the person acting for an
    organisation), and go on to their licences."""
    old: HolderSession | None = request.state.session
    if old is not None:
        desk.sessions.end(old.session_id)
    session = desk.sessions.create(number, via, actor)
    LOG.info('{"event": "web.holder_signed_in", "via": "%s"}', via)
    response = RedirectResponse(HOLDER_PATH, status_code=303)
    _set_cookie(response, desk, session.session_id)
    return response


def to_portal(request: Request) -> Response:
    """GET /me/signin/portal: off to the identity provider with this browser's nonce."""
    desk = holder_desk_of(request)
    if desk.assertions is None:
        return _page(request, "holder_signin.html", {"refusal": _NO_PORTAL}, 404)
    session: HolderSession | None = request.state.session
    fresh = session is None
    if session is None:
        session = desk.sessions.create(None)
    back = str(request.url_for("holder_assertion"))
    if desk.settings.cookie_secure and back.startswith("http://"):
        back = "https://" + back.removeprefix("http://")  # TLS ends at a proxy in front
    query = urlencode(
        {
            "client_id": desk.settings.holder_audience,
            "redirect_uri": back,
            "response_mode": "form_post",
            "nonce": sign_in_nonce(session.session_id),
        }
    )
    url = desk.settings.holder_idp_url
    response = RedirectResponse(f"{url}{'&' if '?' in url else '?'}{query}", status_code=303)
    if fresh:
        _set_cookie(response, desk, session.session_id)
    return response


async def assertion(request: Request) -> Response:
    """POST /me/signin/assertion: the identity provider's post (cross-site, so without the
    holder cookie): a page carrying the assertion on to ``/me/signin/complete``."""
    form = await request.form()
    token = str(form.get("assertion", "")).strip()
    desk = holder_desk_of(request)
    if desk.assertions is None or not token or len(token) > MAX_ASSERTION_CHARS:
        reason = "NOT_CONFIGURED" if desk.assertions is None else "MALFORMED"
        LOG.warning('{"event": "web.holder_assertion_refused", "reason": "%s"}', reason)
        return _page(request, "holder_signin.html", {"refusal": _REFUSED}, 401)
    return render(request, "holder_continue.html", {"assertion": token})


async def complete(request: Request) -> Response:
    """POST /me/signin/complete: the assertion, from the desk's own page, checked against
    the nonce of this browser's session."""
    form = await request.form()
    token = str(form.get("assertion", ""))
    return await run_in_threadpool(_complete, request, token)


def _complete(request: Request, token: str) -> Response:
    desk = holder_desk_of(request)
    session: HolderSession | None = request.state.session
    if desk.assertions is None:
        return _page(request, "holder_signin.html", {"refusal": _NO_PORTAL}, 404)
    if session is None:
        LOG.warning('{"event": "web.holder_assertion_refused", "reason": "NO_SESSION"}')
        return _page(request, "holder_signin.html", {"refusal": _START_AGAIN}, 401)
    try:
        number, actor = desk.assertions.signed_in(token, sign_in_nonce(session.session_id))
    except AssertionRefused as exc:
        LOG.warning('{"event": "web.holder_assertion_refused", "reason": "%s"}', exc.reason)
        return _page(request, "holder_signin.html", {"refusal": _REFUSED}, 401)
    return _start(request, desk, number, "assertion", actor)


def signout(request: Request) -> Response:
    """POST /me/signout: end the holder session."""
    desk = holder_desk_of(request)
    session = request.state.session
    if session is not None:
        desk.sessions.end(session.session_id)
    response = RedirectResponse(f"{HOLDER_PATH}/signin?m=signed_out", status_code=303)
    response.delete_cookie(
        desk.cookie_name,
        path=HOLDER_PATH,
        httponly=True,
        samesite="strict",
        secure=desk.settings.cookie_secure,
    )
    return response


ROUTES = [
    Route(f"{HOLDER_PATH}/signin", signin_page, methods=["GET"]),
    Route(f"{HOLDER_PATH}/signin/code", ask_code, methods=["POST"]),
    Route(f"{HOLDER_PATH}/signin/verify", check_code, methods=["POST"]),
    Route(f"{HOLDER_PATH}/signin/portal", to_portal, methods=["GET"]),
    Route(ASSERTION_PATH, assertion, methods=["POST"], name="holder_assertion"),
    Route(COMPLETE_PATH, complete, methods=["POST"]),
    Route(f"{HOLDER_PATH}/signout", signout, methods=["POST"]),
]
