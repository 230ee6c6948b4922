"""The dashboard, the account list and the liveness probe.

The role screens are their own modules: the counter desk :mod:`clients.web.counter`, the
supervision room :mod:`clients.web.supervision`, the operator desk :mod:`clients.web.operator`.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from clients.web.auth import requires
from clients.web.backend import DEPARTMENT_ROLE
from clients.web.desk import desk_of
from clients.web.templating import nav_for, render
from clients.web.viewmodels import ROLE_LABELS

__all__ = ["ROUTES"]


@requires()
def dashboard(request: Request) -> Response:
    """GET /: who is signed in, for which department (as the services know it), and the
    screens the account's roles open."""
    desk = desk_of(request)
    account = request.state.account
    department = desk.backend.client(account).get_department(credit_code=account.department)
    context = {
        "department": {"name": department.name, "code": department.credit_code},
        "roles": [ROLE_LABELS[r] for r in account.roles if r in ROLE_LABELS],
        "screens": [s for s in nav_for(account) if _permitted(s.roles, department.roles)],
    }
    return render(request, "dashboard.html", context)


def _permitted(roles: tuple[str, ...], department_roles: Iterable[int]) -> bool:
    held = set(department_roles)
    return any(DEPARTMENT_ROLE.get(r) in held or r not in DEPARTMENT_ROLE for r in roles)


def healthz(_request: Request) -> Response:
    """GET /healthz: the desk process answers (it does not call the services)."""
    return PlainTextResponse("ok")


ROUTES = [
    Route("/", dashboard),
    Route("/healthz", healthz),
]
