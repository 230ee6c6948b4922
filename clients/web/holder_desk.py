"""The holder page's parts, built once beside the desk's (``request.app.state.holder``).

The page acts for the holder through the holder portal department's client certificate
(``YIHAO_WEB_HOLDER_PORTAL``, default the demo's ``portal``): to the services it is the portal
that authenticated the person and asks on their behalf, exactly as for ``yihao --as portal``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import Request

from clients.client import YihaoClient
from clients.web.backend import Backend
from clients.web.config import WebSettings
from clients.web.holder_identity import AssertionCheck, DevCodes, load_idp_keys
from clients.web.holder_sessions import HolderSessionStore
from clients.web.sessions import Clock
from yihao_shared.departments import code_of

__all__ = ["HolderDesk", "build_holder_desk", "holder_desk_of"]


@dataclass
class HolderDesk:
    """Holder sessions, the ways to sign in, and the way to the services (the portal)."""

    settings: WebSettings
    sessions: HolderSessionStore
    backend: Backend
    clock: Clock
    portal_code: str
    dev_codes: DevCodes | None
    assertions: AssertionCheck | None

    @property
    def cookie_name(self) -> str:
        """The holder cookie's name (``__Secure-`` when Secure; it is bound to ``/me``)."""
        return "__Secure-yihao-holder" if self.settings.cookie_secure else "yihao-holder"

    @property
    def qr_seconds(self) -> int:
        """How long a 亮证 QR code is valid."""
        return self.settings.holder_qr_seconds

    def portal(self) -> YihaoClient:
        """A client acting as the holder portal (no staff member: the holder acts)."""
        return self.backend.for_department(self.portal_code)


def build_holder_desk(
    settings: WebSettings, engine: Engine, backend: Backend, clock: Clock
) -> HolderDesk:
    """The holder page's parts from the settings (the development sign-in only when
    ``dev``; assertions only when the identity provider's keys are configured)."""
    sessions = HolderSessionStore(
        engine,
        clock,
        idle_seconds=settings.idle_seconds,
        absolute_seconds=settings.absolute_seconds,
    )
    assertions = None
    if settings.holder_idp_keys is not None:
        assertions = AssertionCheck(
            load_idp_keys(settings.holder_idp_keys),
            settings.holder_idp_issuer,
            settings.holder_audience,
            clock,
        )
    dev_codes = DevCodes(clock) if settings.dev else None
    return HolderDesk(
        settings,
        sessions,
        backend,
        clock,
        code_of(settings.holder_portal),
        dev_codes,
        assertions,
    )


def holder_desk_of(request: Request) -> HolderDesk:
    """The holder page's parts serving ``request``."""
    found: HolderDesk = request.app.state.holder
    return found
