"""The running desk's parts, built once by :func:`clients.web.app.create_app` and reached by
the views through :func:`desk_of` (``request.app.state.desk``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.requests import Request

from clients.web.accounts import AccountStore
from clients.web.backend import Backend
from clients.web.config import WebSettings
from clients.web.sessions import Clock, SessionStore
from clients.web.signin import SignInService

__all__ = ["Desk", "desk_of"]


@dataclass
class Desk:
    """Settings, stores and the way to the services, shared by every request."""

    settings: WebSettings
    engine: Engine
    accounts: AccountStore
    sessions: SessionStore
    signins: SignInService
    backend: Backend
    clock: Clock

    @property
    def cookie_name(self) -> str:
        """The session cookie's name (``__Host-`` bound to this origin when Secure)."""
        return "__Host-yihao-session" if self.settings.cookie_secure else "yihao-session"

    def close(self) -> None:
        """Close the channels and the database."""
        self.backend.close()
        self.engine.dispose()


def desk_of(request: Request) -> Desk:
    """The desk serving ``request``."""
    desk: Desk = request.app.state.desk
    return desk
