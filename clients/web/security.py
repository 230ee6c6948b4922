"""Security headers on every response, built in one place (as warehouse's csp.py).

The Content-Security-Policy allows scripts, styles, images and fonts from the desk itself
only: no inline script or style, no eval, no plugins, no framing, forms post only to the
desk. Page helpers that vendor a library needing more (say a camera QR decoder's worker)
extend :data:`CSP` here, with the reason beside it.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecurityHeadersMiddleware", "csp_header"]

#: directive -> sources
CSP: dict[str, tuple[str, ...]] = {
    "default-src": ("'self'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'", "data:"),  # data: for QR codes drawn into <img>
    "font-src": ("'self'",),
    "connect-src": ("'self'",),
    "media-src": ("'self'", "blob:"),  # a camera stream shown in <video>
    "worker-src": ("'self'", "blob:"),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}


def csp_header() -> str:
    """The Content-Security-Policy header's value."""
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in CSP.items())


_COMMON = {
    "Content-Security-Policy": csp_header(),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """Adds :data:`_COMMON` to every response; pages (not static files) get no-store."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.headers = dict(_COMMON)
        if hsts:
            self.headers["Strict-Transport-Security"] = "max-age=31536000"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
