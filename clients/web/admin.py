"""Staff accounts at the desk (``/accounts``, role ``admin``): list, add, disable and enable,
set a new password, lift a sign-in lock — what ``yihao web users`` does, in the browser.

Every change is a POST with the session's CSRF token; adding acts once per form
(:mod:`clients.web.once`). Disabling an account or setting its password ends all its sessions
at once (a stolen session dies with the old password). An administrator cannot disable their
own account (the desk would be left without the one who can undo it). Each change is written
to the desk's log as ``web.account_changed`` with who did it, the account (each as
:func:`~clients.web.signin.account_ref`, as the sign-in log writes them) and the change — never
a password. Account ids travel in POST bodies, not URLs.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from clients.web import once
from clients.web.accounts import ROLES, Account, check_new
from clients.web.auth import posted_by, requires
from clients.web.desk import Desk, desk_of
from clients.web.signin import account_ref
from clients.web.templating import render
from clients.web.viewmodels import ROLE_LABELS, Label
from yihao_shared.departments import code_of
from yihao_shared.errors import AlreadyExists, InvalidArgument, NotFound

__all__ = ["ROUTES"]

LOG = logging.getLogger("yihao.web.admin")
ACTIONS = ("disable", "enable", "unlock", "password")
ADD_FIELDS = ("account", "display_name", "department")
_FIELD_NAMES = {
    "account": Label("账号", "account"),
    "display_name": Label("姓名", "name"),
    "department": Label("部门", "department"),
    "roles": Label("角色", "roles"),
    "password": Label("密码", "password"),
    "password_again": Label("确认密码", "password again"),
}
_RULES_ZH = {
    "1-64 of a-z": "1 到 64 个小写字母、数字或 . _ -，以字母或数字开头",
    "required, at most 200": "必填，最多 200 个字符",
    "neither a demo alias nor a credit code": "须为统一社会信用代码（或演示部门别名）",
    "one or more of": "至少选择一个",
    "at least": "至少 10 个字符",
}


def _error(name: str, zh: str, en: str) -> Label:
    label = _FIELD_NAMES.get(name, Label(name, name))
    return Label(f"{label.zh}：{zh}", f"{label.en}: {en}")


def _from_violations(exc: InvalidArgument) -> dict[str, Label]:
    errors: dict[str, Label] = {}
    for v in exc.violations:
        zh = next((w for marker, w in _RULES_ZH.items() if marker in v.description), "不符合要求")
        errors.setdefault(v.field, _error(v.field, zh, v.description))
    return errors


def _rows(desk: Desk, me: Account) -> list[dict[str, Any]]:
    return [
        {
            "id": a.account_id,
            "name": a.display_name,
            "department": a.department,
            "roles": [ROLE_LABELS[r] for r in a.roles if r in ROLE_LABELS],
            "disabled": a.disabled,
            "locked": desk.signins.locked_until(a.account_id) is not None,
            "me": a.account_id == me.account_id,
        }
        for a in desk.accounts.list()
    ]


def _page(
    request: Request,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, Label] | None = None,
    problem: Label | None = None,
    status: int = 200,
) -> Response:
    desk = desk_of(request)
    context = {
        "rows": _rows(desk, request.state.account),
        "roles": [(r, ROLE_LABELS[r]) for r in ROLES if r in ROLE_LABELS],
        "form": form or {"roles": []},
        "errors": errors or {},
        "problem": problem,
        "form_key": once.form_key(),
        "key_field": once.IDEMPOTENCY_FIELD,
    }
    return render(request, "accounts.html", context, status)


@requires("admin")
def accounts_page(request: Request) -> Response:
    """GET /accounts: every staff account, the form to add one, and each one's actions."""
    return _page(request)


def _log(request: Request, account_id: str, change: str) -> None:
    event = {
        "event": "web.account_changed",
        "by": account_ref(request.state.account.account_id),
        "account": account_ref(account_id),
        "change": change,
    }
    LOG.info(json.dumps(event))


def add_account(request: Request) -> Response:
    """POST /accounts: add an account (errors beside their fields; once per form)."""
    posted = request.state.form
    desk = desk_of(request)
    form: dict[str, Any] = {name: str(posted.get(name, "")).strip() for name in ADD_FIELDS}
    form["roles"] = [str(r) for r in posted.getlist("roles")]
    password, again = str(posted.get("password", "")), str(posted.get("password_again", ""))
    errors: dict[str, Label] = {}
    try:
        check_new(
            form["account"], form["display_name"], form["department"], form["roles"], password
        )
    except InvalidArgument as exc:
        errors = _from_violations(exc)
    if password != again:
        errors["password_again"] = _error("password_again", "两次输入不一致", "the two differ")
    department = code_of(form["department"])
    if "department" not in errors and not desk.backend.hosts(department):
        errors["department"] = _error(
            "department",
            "本系统没有该部门的客户端证书",
            "this desk holds no client certificate for it",
        )
    key = once.read_form_key(posted.get(once.IDEMPOTENCY_FIELD))
    if key is None:
        return _page(request, form=form, problem=Label("表单缺少提交编号，请刷新。", "Reload."))
    if errors:
        return _page(request, form=form, errors=errors, status=400)

    def add() -> str:
        made = desk.accounts.add(
            form["account"],
            form["display_name"],
            form["department"],
            form["roles"],
            password,
            now=desk.clock(),
        )
        return made.account_id

    actor = request.state.account.account_id
    try:
        account_id, _ = once.run(desk.engine, key, actor, add, clock=desk.clock)
    except InvalidArgument as exc:
        return _page(request, form=form, errors=_from_violations(exc), status=400)
    except AlreadyExists:
        taken = _error("account", "已存在", "is taken")
        return _page(request, form=form, errors={"account": taken}, status=400)
    _log(request, account_id, "added")
    return RedirectResponse("/accounts?m=account_added", status_code=303)


def act(request: Request) -> Response:
    """POST /accounts/{action}: disable, enable, unlock, or set the password of ``account``."""
    action = str(request.path_params["action"])
    posted = request.state.form
    account_id = str(posted.get("account", ""))
    desk = desk_of(request)
    if action not in ACTIONS or desk.accounts.get(account_id) is None:
        return _page(request, problem=Label("没有这个账号。", "No such account."), status=404)
    if action == "disable" and account_id == request.state.account.account_id:
        mine = Label("不能停用自己的账号。", "You cannot disable your own account.")
        return _page(request, problem=mine, status=400)
    try:
        if action in ("disable", "enable"):
            desk.accounts.set_disabled(account_id, action == "disable")
        elif action == "unlock":
            desk.signins.unlock(account_id)
        else:
            password = str(posted.get("password", ""))
            if password != str(posted.get("password_again", "")):
                differ = Label(f"{account_id}：两次输入的密码不一致。", "The two passwords differ.")
                return _page(request, problem=differ, status=400)
            desk.accounts.set_password(account_id, password)
    except InvalidArgument:
        short = Label(
            f"{account_id}：密码至少 10 个字符。", "A password has at least 10 characters."
        )
        return _page(request, problem=short, status=400)
    except NotFound:
        return _page(request, problem=Label("没有这个账号。", "No such account."), status=404)
    if action in ("disable", "password"):
        desk.sessions.end_all_of(account_id)
    _log(request, account_id, action)
    done = {"disable": "disabled", "enable": "enabled", "unlock": "unlocked"}.get(action, action)
    return RedirectResponse(f"/accounts?m=account_{done}", status_code=303)


posted = posted_by("admin")

ROUTES = [
    Route("/accounts", accounts_page, methods=["GET"]),
    Route("/accounts", posted(add_account), methods=["POST"]),
    Route("/accounts/{action}", posted(act), methods=["POST"]),
]
