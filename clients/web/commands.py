"""The ``yihao web`` commands: serve the desk, manage staff accounts (:mod:`clients.web.cli`)."""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from clients import commands as c
from clients.web.accounts import Account
from clients.web.app import build_desk, create_app
from clients.web.config import WebSettings, load_web_settings, parse_listen
from clients.web.desk import Desk
from yihao_shared.errors import FailedPrecondition, InvalidArgument, YihaoError

__all__ = [
    "DEMO_ACCOUNTS",
    "cmd_serve",
    "cmd_users_add",
    "cmd_users_demo",
    "cmd_users_disable",
    "cmd_users_enable",
    "cmd_users_list",
    "cmd_users_unlock",
]

#: (account, display name, department alias, roles, password) of the demo accounts.
DEMO_ACCOUNTS = (
    ("handler", "演示窗口人员", "hall", ("handler",), "handler-demo"),
    ("supervisor", "演示监察人员", "supervision", ("supervisor",), "supervisor-demo"),
    ("operator", "演示证照业务人员", "market", ("operator",), "operator-demo"),
    ("admin", "演示管理员", "data", ("admin",), "admin-demo"),
)


def _settings(ctx: c.Context) -> WebSettings:
    env = dict(os.environ)
    if ctx.args.var_dir is not None:
        env["YIHAO_VAR_DIR"] = str(ctx.args.var_dir)
    if ctx.args.address:
        env["YIHAO_ADDRESS"] = ctx.args.address
    try:
        return load_web_settings(env)
    except YihaoError as exc:
        raise c.SetupError(exc) from exc


def _desk(ctx: c.Context) -> Desk:
    return build_desk(_settings(ctx))


def cmd_serve(ctx: c.Context) -> int:
    """Serve the desk until Ctrl-C or SIGTERM."""
    import uvicorn

    settings = _settings(ctx)
    if ctx.args.listen:
        try:
            parse_listen(ctx.args.listen, "--listen")
        except YihaoError as exc:
            raise c.SetupError(exc) from exc
        settings = settings.with_overrides(listen=ctx.args.listen)
    host, port = parse_listen(settings.listen)
    # The desk's own lines (sign-in records as JSON, services unavailable, failures with their
    # reference) on stderr; none carries an account id, a name or an address.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(settings)
    scheme = "https" if settings.tls else "http"
    banner = (
        f"Web desk 窗口: {scheme}://{settings.listen}/ (calling the services at {settings.address})"
    )
    if settings.dev:
        banner += (
            f"\nHolder page 持证人: {scheme}://{settings.listen}/me (development sign-in: the "
            "one-time code is written to this log)"
        )
    threading.Thread(target=_announce, args=(ctx, banner, settings.address), daemon=True).start()
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
            access_log=False,  # client addresses are personal data: no access log
            server_header=False,
            log_level="warning",
        )
    finally:
        app.state.desk.close()
    return 0


def _announce(ctx: c.Context, banner: str, address: str) -> None:
    """Print the desk's URL once the services accept connections (so that, under make run,
    it comes after the server's own banner rather than lost above it); 30 s at most."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
            time.sleep(0.5)
            break
        except (OSError, ValueError):
            time.sleep(0.5)
    ctx.out.note(banner)


def _read_password(path: str | None) -> str:
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise c.SetupError(
                InvalidArgument.field("--password-file", f"cannot read a first line: {exc}")
            ) from exc
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise InvalidArgument.field("password", "the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _show(ctx: c.Context, account: Account) -> None:
    if ctx.out.json:
        print(json.dumps(asdict(account), ensure_ascii=False), file=ctx.out.stdout)
        return
    state = "disabled 停用" if account.disabled else "active 启用"
    print(
        f"{account.account_id:<16} {account.display_name:<12} {account.department} "
        f"{','.join(account.roles):<20} {state}",
        file=ctx.out.stdout,
    )


def cmd_users_add(ctx: c.Context) -> int:
    """Add an account."""
    password = _read_password(ctx.args.password_file)
    desk = _desk(ctx)
    try:
        account = desk.accounts.add(
            ctx.args.account,
            ctx.args.name,
            ctx.args.department,
            ctx.args.role,
            password,
            now=time.time(),
        )
    finally:
        desk.close()
    _show(ctx, account)
    return 0


def cmd_users_list(ctx: c.Context) -> int:
    """List the accounts."""
    desk = _desk(ctx)
    try:
        for account in desk.accounts.list():
            _show(ctx, account)
    finally:
        desk.close()
    return 0


def _set_disabled(ctx: c.Context, disabled: bool) -> int:
    desk = _desk(ctx)
    try:
        account = desk.accounts.set_disabled(ctx.args.account, disabled)
        if disabled:
            desk.sessions.end_all_of(account.account_id)
    finally:
        desk.close()
    _show(ctx, account)
    return 0


def cmd_users_disable(ctx: c.Context) -> int:
    """Disable an account and end its sessions."""
    return _set_disabled(ctx, True)


def cmd_users_enable(ctx: c.Context) -> int:
    """Enable an account."""
    return _set_disabled(ctx, False)


def cmd_users_unlock(ctx: c.Context) -> int:
    """Lift a lockout."""
    desk = _desk(ctx)
    try:
        desk.signins.unlock(ctx.args.account)
    finally:
        desk.close()
    ctx.out.note(f"{ctx.args.account}: unlocked")
    return 0


def cmd_users_demo(ctx: c.Context) -> int:
    """Create the demo accounts when missing (development only)."""
    settings = _settings(ctx)
    if not settings.dev:
        raise c.SetupError(
            FailedPrecondition(
                "demo accounts have well-known passwords: they are made only when "
                "YIHAO_WEB_DEV=1 (development; make run sets it)",
                reason="NOT_DEVELOPMENT",
            )
        )
    desk = build_desk(settings)
    try:
        for account_id, name, department, roles, password in DEMO_ACCOUNTS:
            if desk.accounts.get(account_id) is None:
                desk.accounts.add(account_id, name, department, roles, password, now=time.time())
    finally:
        desk.close()
    if not ctx.args.quiet:
        ctx.out.note("demo sign-ins 演示账号 (account / password):")
        for account_id, _name, department, roles, password in DEMO_ACCOUNTS:
            ctx.out.note(f"  {account_id:<11} / {password:<16} {'+'.join(roles)} at {department}")
    return 0
