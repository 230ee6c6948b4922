"""Rendering pages: the Jinja2 templates under ``clients/web/templates`` and what every page
gets (the signed-in account, the CSRF token, the navigation its roles allow, the flash).

Autoescaping is on for every template; no template writes inline script or style (the CSP
forbids both), and htmx is told not to add its own inline style either (see base.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from clients.web.accounts import Account
from clients.web.once import form_key
from clients.web.viewmodels import Label, flash_message

__all__ = ["NAV", "TEMPLATES", "NavItem", "nav_for", "render"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATES = Jinja2Templates(directory=str(TEMPLATES_DIR))
TEMPLATES.env.globals["form_key"] = form_key


@dataclass(frozen=True)
class NavItem:
    """A screen in the navigation, shown to accounts holding one of ``roles``."""

    path: str
    label: Label
    roles: tuple[str, ...]


#: The role screens, in the order the navigation shows them. Page helpers add theirs here.
NAV: list[NavItem] = [
    NavItem("/counter", Label("窗口核验", "Counter desk"), ("handler",)),
    NavItem("/supervision", Label("电子监察", "Supervision"), ("supervisor",)),
    NavItem("/operator", Label("证照管理", "Operator desk"), ("operator",)),
    NavItem("/accounts", Label("账号管理", "Staff accounts"), ("admin",)),
]


def nav_for(account: Account | None) -> list[NavItem]:
    """The screens ``account`` may open."""
    if account is None:
        return []
    return [item for item in NAV if account.has_role(*item.roles)]


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """``template`` with ``context`` and what every page needs."""
    state = request.state
    account = getattr(state, "account", None)
    session = getattr(state, "session", None)
    page: dict[str, Any] = {
        "account": account,
        "csrf_token": session.csrf_token if session is not None else "",
        "nav": nav_for(account),
        "flash": flash_message(request.query_params.get("m")),
        "current_path": request.url.path,
    }
    page.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, page, status_code=status)
