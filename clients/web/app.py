"""The desk's application factory: :func:`create_app` builds a Starlette app from settings.

Middleware, outermost first: security headers (every response), session (the cookie to
``request.state.account``), holder session (under ``/me`` only, in place of the staff
session: :mod:`clients.web.holder_sessions`), CSRF (every state-changing request). Views are
synchronous functions (Starlette runs them in its thread pool), since the gRPC client and the desk
database are synchronous.
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.middleware import Middleware

from clients.web.accounts import AccountStore
from clients.web.backend import Backend
from clients.web.config import WebSettings
from clients.web.db import open_database
from clients.web.desk import Desk
from clients.web.errors import EXCEPTION_HANDLERS, problem_page
from clients.web.holder_desk import build_holder_desk
from clients.web.holder_sessions import HolderSessionMiddleware
from clients.web.holder_signin import CSRF_EXEMPT
from clients.web.middleware import CsrfMiddleware, SessionMiddleware
from clients.web.routes import routes
from clients.web.security import SecurityHeadersMiddleware
from clients.web.sessions import Clock, SessionStore
from clients.web.signin import SignInLimits, SignInLog, SignInService

__all__ = ["build_desk", "create_app"]


def build_desk(
    settings: WebSettings, *, clock: Clock = time.time, backend: Backend | None = None
) -> Desk:
    """The desk's parts: database, stores, sign-in service, the way to the services."""
    engine = open_database(settings.db_url)
    accounts = AccountStore(engine)
    limits = SignInLimits(
        lockout_failures=settings.lockout_failures,
        lockout_seconds=settings.lockout_seconds,
        address_failures=settings.address_failures,
    )
    sessions = SessionStore(
        engine,
        clock,
        idle_seconds=settings.idle_seconds,
        absolute_seconds=settings.absolute_seconds,
    )
    if backend is None:
        backend = Backend(
            settings.address, settings.var_dir, settings.departments, timeout=settings.grpc_timeout
        )
    signins = SignInService(accounts, SignInLog(engine), clock, limits)
    return Desk(settings, engine, accounts, sessions, signins, backend, clock)


def create_app(
    settings: WebSettings, *, clock: Clock = time.time, backend: Backend | None = None
) -> Starlette:
    """The desk as an ASGI app; ``app.state.desk`` holds its parts."""
    desk = build_desk(settings, clock=clock, backend=backend)
    holder = build_holder_desk(settings, desk.engine, desk.backend, clock)
    middleware = [
        Middleware(SecurityHeadersMiddleware, hsts=settings.tls),
        Middleware(
            SessionMiddleware,
            sessions=desk.sessions,
            accounts=desk.accounts,
            cookie=desk.cookie_name,
        ),
        Middleware(HolderSessionMiddleware, store=holder.sessions, cookie=holder.cookie_name),
        Middleware(
            CsrfMiddleware,
            refuse=problem_page,
            max_body_bytes=settings.max_body_bytes,
            exempt=CSRF_EXEMPT,
        ),
    ]
    app = Starlette(routes=routes(), middleware=middleware, exception_handlers=EXCEPTION_HANDLERS)
    app.state.desk = desk
    app.state.holder = holder
    return app
