"""``yihao web ...``: serve the desk and manage its staff accounts.

Only the argument parser lives here; the commands (:mod:`clients.web.commands`) are imported
when one runs, so ``yihao`` starts without the web extra installed and says what to install
when a ``web`` command is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from clients import commands as c
from clients.cli_args import Sub, command, group
from yihao_shared.errors import FailedPrecondition

__all__ = ["add_web_commands"]

_ROLES = ("handler", "supervisor", "operator", "admin")


def _lazy(name: str) -> Any:
    def run(ctx: c.Context) -> int:
        try:
            module = importlib.import_module("clients.web.commands")
        except ImportError as exc:
            error = FailedPrecondition(
                f"the web desk is not installed here ({exc}); install it with "
                "`pip install 'yihao[web]'`",
                reason="WEB_NOT_INSTALLED",
            )
            raise c.SetupError(error) from exc
        result: int = getattr(module, name)(ctx)
        return result

    return run


def _users(subs: Sub) -> None:
    users = group(subs, "users", "the desk's staff accounts (its own database)")
    add = command(
        users,
        "add",
        _lazy("cmd_users_add"),
        "add an account; the password is read from --password-file, else asked for (twice) "
        "on a terminal, else read from the first line of standard input",
    )
    add.add_argument("account", help="account id: 1-64 of a-z 0-9 . _ -")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument(
        "--department", required=True, metavar="DEPT", help="department: alias or credit code"
    )
    add.add_argument(
        "--role", action="append", required=True, choices=_ROLES, help="a role (repeatable)"
    )
    add.add_argument("--password-file", metavar="FILE", help="file whose first line is it")
    command(users, "list", _lazy("cmd_users_list"), "list the accounts")
    for name, what in (
        ("disable", "disable an account (its sessions end at once)"),
        ("enable", "enable a disabled account"),
        ("unlock", "lift a sign-in lockout now"),
    ):
        one = command(users, name, _lazy(f"cmd_users_{name}"), what)
        one.add_argument("account", help="account id")
    demo = command(
        users,
        "demo",
        _lazy("cmd_users_demo"),
        "create the demo accounts (handler, supervisor, operator, admin) if missing; "
        "development only: needs YIHAO_WEB_DEV=1",
    )
    demo.add_argument("--quiet", action="store_true", help="do not print the sign-ins")


def add_web_commands(subs: Sub) -> None:
    """``yihao web serve`` and ``yihao web users ...``."""
    web = group(subs, "web", "the web desk: serve it, manage its staff accounts")
    serve = command(
        web,
        "serve",
        _lazy("cmd_serve"),
        "serve the desk in the foreground (calls the gRPC server at --address)",
    )
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help="address to bind (default $YIHAO_WEB_LISTEN)"
    )
    _users(web)
