"""Sign-in and sign-out pages, and :func:`requires`, the role check every screen uses.

The forms are plain HTML forms (they work without JavaScript); their CSRF token is checked by
:class:`clients.web.middleware.CsrfMiddleware` before these views run.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from clients.web.desk import Desk, desk_of
from clients.web.signin import Outcome
from clients.web.templating import render
from clients.web.viewmodels import Label

__all__ = ["ROUTES", "posted_by", "requires", "set_session_cookie"]

Endpoint = Callable[[Request], Response]

_REFUSALS: dict[Outcome, Label] = {
    Outcome.WRONG: Label("账号或密码不正确。", "Wrong account or password."),
    Outcome.DISABLED: Label("账号或密码不正确。", "Wrong account or password."),
    Outcome.LOCKED: Label(
        "登录失败次数过多，账号已暂时锁定，请 {minutes} 分钟后再试。",
        "Too many failed sign-ins: the account is locked; try again in {minutes} minutes.",
    ),
    Outcome.ADDRESS_LIMITED: Label(
        "此地址登录失败次数过多，请 {minutes} 分钟后再试。",
        "Too many failed sign-ins from this address; try again in {minutes} minutes.",
    ),
}
_STATUS = {Outcome.WRONG: 401, Outcome.DISABLED: 401, Outcome.LOCKED: 429}


def set_session_cookie(response: Response, desk: Desk, session_id: str) -> None:
    """Give the browser its session cookie: HttpOnly, SameSite=Strict, Secure under TLS."""
    response.set_cookie(
        desk.cookie_name,
        session_id,
        max_age=int(desk.settings.absolute_seconds),
        path="/",
        httponly=True,
        samesite="strict",
        secure=desk.settings.cookie_secure,
    )


def _safe_next(value: str | None) -> str:
    """Where to go after sign-in: a path on this desk only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def requires(*roles: str) -> Callable[[Endpoint], Endpoint]:
    """A signed-in account holding one of ``roles`` (any account when none are named) whose
    department the services give that role too; signed out → the sign-in page (then back),
    wrong role → 403."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        def guarded(request: Request) -> Response:
            account = getattr(request.state, "account", None)
            if account is None:
                flash = "expired" if request.state.session_expired else "signin_required"
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/signin?m={flash}&next={target}", status_code=303)
            if roles and not account.has_role(*roles):
                raise HTTPException(403)
            backend = desk_of(request).backend
            if roles and not any(backend.permits(account, r) for r in roles if r in account.roles):
                raise HTTPException(403, detail="department_role")
            return endpoint(request)

        return guarded

    return wrap


def posted_by(role: str) -> Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]:
    """A POST view for ``role`` (see :func:`requires`): the form is read (async), then the
    view runs in the thread pool with it in ``request.state.form``."""

    def wrap(view: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        guarded = requires(role)(view)

        async def endpoint(request: Request) -> Response:
            request.state.form = await request.form()
            return await run_in_threadpool(guarded, request)

        endpoint.__name__ = view.__name__
        endpoint.__doc__ = view.__doc__
        return endpoint

    return wrap


def signin_page(request: Request) -> Response:
    """GET /signin: the form (a session without an account is made for its CSRF token)."""
    desk = desk_of(request)
    if request.state.account is not None:
        return RedirectResponse("/", status_code=303)
    context = {"next": _safe_next(request.query_params.get("next")), "errors": {}}
    if request.state.session is not None:
        return render(request, "signin.html", context)
    session = desk.sessions.create(None)
    request.state.session = session
    response = render(request, "signin.html", context)
    set_session_cookie(response, desk, session.session_id)
    return response


def _form_errors(account: str, password: str) -> dict[str, Label]:
    errors = {}
    if not account.strip():
        errors["account"] = Label("请输入账号。", "Enter your account.")
    if not password:
        errors["password"] = Label("请输入密码。", "Enter your password.")
    return errors


async def signin(request: Request) -> Response:
    """POST /signin: check, record, and on success start a new session."""
    form = await request.form()
    account_id, password = str(form.get("account", "")), str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "")))
    errors = _form_errors(account_id, password)
    context: dict[str, object] = {
        "next": next_path,
        "errors": errors,
        "typed_account": account_id.strip(),
    }
    if errors:
        return render(request, "signin.html", context, status=400)
    return await _signin_checked(request, account_id, password, context)


async def _signin_checked(
    request: Request, account_id: str, password: str, context: dict[str, object]
) -> Response:

    desk = desk_of(request)
    address = request.client.host if request.client else None
    result = await run_in_threadpool(desk.signins.sign_in, account_id, password, address)
    if result.outcome is not Outcome.SIGNED_IN or result.account is None:
        minutes = max(1, math.ceil(result.retry_after / 60))
        refusal = _REFUSALS[result.outcome]
        context["refusal"] = Label(
            refusal.zh.format(minutes=minutes), refusal.en.format(minutes=minutes)
        )
        status = _STATUS.get(result.outcome, 429)
        return render(request, "signin.html", context, status=status)
    if request.state.session is not None:
        await run_in_threadpool(desk.sessions.end, request.state.session.session_id)
    session = await run_in_threadpool(desk.sessions.create, result.account.account_id)
    response = RedirectResponse(str(context["next"]), status_code=303)
    set_session_cookie(response, desk, session.session_id)
    return response


def signout(request: Request) -> Response:
    """POST /signout: end the session, record it, back to the sign-in page."""
    desk = desk_of(request)
    session = request.state.session
    if session is not None:
        desk.sessions.end(session.session_id)
        address = request.client.host if request.client else None
        if session.account_id is not None:
            desk.signins.signed_out(session.account_id, address)
    response = RedirectResponse("/signin?m=signed_out", status_code=303)
    response.delete_cookie(
        desk.cookie_name,
        path="/",
        httponly=True,
        samesite="strict",
        secure=desk.settings.cookie_secure,
    )
    return response


ROUTES = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
]
