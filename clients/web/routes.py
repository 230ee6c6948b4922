"""Every route of the desk, gathered in one list. A page module adds its ``ROUTES`` here."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from clients.web import (
    admin,
    auth,
    counter,
    holder,
    holder_consents,
    holder_signin,
    operator,
    operator_bulk,
    operator_events,
    pages,
    supervision,
    supervision_access,
)

__all__ = ["STATIC_DIR", "routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"


def routes() -> list[BaseRoute]:
    """The desk's routes: static files, sign-in, pages."""
    return [
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
        *admin.ROUTES,
        *auth.ROUTES,
        *counter.ROUTES,
        *operator.ROUTES,
        *operator_bulk.ROUTES,
        *operator_events.ROUTES,
        *pages.ROUTES,
        *supervision.ROUTES,
        *supervision_access.ROUTES,
        *holder_signin.ROUTES,
        *holder.ROUTES,
        *holder_consents.ROUTES,
    ]
