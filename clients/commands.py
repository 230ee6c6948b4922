"""What each ``yihao`` subcommand does (the parser is :mod:`clients.cli`).

A handler takes the :class:`Context` and returns the exit code. Handlers print through
:class:`Output`, which prints proto-JSON with ``--json`` and the human form otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from google.protobuf.message import Message

from clients import render
from clients.client import YihaoClient
from clients.connection import ClientConfig, default_var_dir
from clients.retry import RetryPolicy
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import FailedPrecondition, InvalidArgument, YihaoError
from yihao_shared.vocabulary import CHINA_TZ

if TYPE_CHECKING:  # the server package: a client-only installation has none
    from services.common.config import Settings

LIST_PAGE_SIZE = 500
DEPARTMENT_PAGE_SIZE = 1000


class SetupError(Exception):
    """A problem before any call (configuration, TLS files, input file): exit code 2."""

    def __init__(self, error: YihaoError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class Output:
    """Where and how results are printed."""

    json: bool = False
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def show(self, message: Message, human: Callable[[], str]) -> None:
        """Print one message: proto-JSON, or ``human()``."""
        print(render.to_json(message) if self.json else human(), file=self.stdout, flush=True)

    def show_all(self, messages: Iterable[Message], human: Callable[[list[Any]], str]) -> None:
        """Print many messages: one JSON line each, or ``human(all of them)``."""
        if not self.json:
            print(human(list(messages)), file=self.stdout)
            return
        for message in messages:
            print(render.to_json(message), file=self.stdout)

    def note(self, text: str) -> None:
        """A remark for the human, on stderr (never mixed into machine output)."""
        print(text, file=self.stderr, flush=True)


@dataclass
class Context:
    """The parsed command line, the output, and (opened on first use) the client."""

    args: argparse.Namespace
    out: Output
    _client: YihaoClient | None = None

    def config(self) -> ClientConfig:
        """The client configuration from the global options."""
        var_dir = self.args.var_dir or default_var_dir()
        try:
            return ClientConfig.for_department(
                self.args.as_, var_dir, address=self.args.address, timeout=self.args.timeout
            )
        except YihaoError as exc:
            raise SetupError(exc) from exc

    def client(self) -> YihaoClient:
        """The client, connected on first use."""
        if self._client is None:
            config = self.config()
            try:
                self._client = YihaoClient(
                    config, retry=self.retry_policy(), staff=getattr(self.args, "staff", None)
                )
            except YihaoError as exc:
                raise SetupError(exc) from exc
        return self._client

    def retry_policy(self) -> RetryPolicy:
        """A person is waiting: give up within ``--timeout``, and at once if unreachable."""
        return RetryPolicy(deadline=self.args.timeout, retry_unreachable=False)

    def close(self) -> None:
        """Close the client, if one was opened."""
        if self._client is not None:
            self._client.close()

    def settings(self) -> Settings:
        """Server settings from the environment, with ``--var-dir`` applied."""
        load_settings = server_part("services.common.config", "load_settings")
        env = dict(os.environ)
        if self.args.var_dir is not None:
            env["YIHAO_VAR_DIR"] = str(self.args.var_dir)
        try:
            settings: Settings = load_settings(env)
            return settings
        except YihaoError as exc:
            raise SetupError(exc) from exc


# --- server side ------------------------------------------------------------------------------


def beijing_instant(text: str, option: str) -> datetime:
    """An instant typed on the command line (ISO 8601; without an offset it is read as
    Beijing time, as the command line prints instants), in UTC; else a :class:`SetupError`
    naming ``option``."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SetupError(
            InvalidArgument.field(option, f"{text!r} is not an ISO date or date-time", "FORMAT")
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=CHINA_TZ)
    return at.astimezone(UTC)


def server_part(module: str, name: str) -> Any:
    """``module.name`` of the server side, imported only when a server command needs it."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        error = FailedPrecondition(
            f"this installation cannot run the server part ({module}.{name}): {exc}",
            reason="SERVER_NOT_INSTALLED",
        )
        raise SetupError(error) from exc


def cmd_serve(ctx: Context) -> int:
    """Run the server in the foreground until SIGTERM or Ctrl-C."""
    serve = server_part("services.server", "serve")
    settings = ctx.settings()
    changes: dict[str, object] = {}
    if ctx.args.listen:
        changes["listen"] = ctx.args.listen
    if ctx.args.service:
        changes["services"] = tuple(dict.fromkeys(ctx.args.service))
    settings = settings.with_overrides(**changes)
    if ctx.args.workers is None:
        serve(settings)
    else:
        serve(settings, workers=ctx.args.workers)
    return 0


def cmd_pki_init(ctx: Context) -> int:
    """Create the development PKI."""
    init_pki = server_part("services.bootstrap", "init_pki")
    settings = ctx.settings()
    init_pki(settings, force=ctx.args.force)
    ctx.out.note(f"development PKI ready in {settings.pki_dir}")
    return 0


def cmd_db_upgrade(ctx: Context) -> int:
    """Bring the database schema up to date."""
    upgrade_db = server_part("services.bootstrap", "upgrade_db")
    upgrade_db(ctx.settings())
    ctx.out.note("database schema is up to date")
    return 0


def cmd_audit_verify(ctx: Context) -> int:
    """Check every log entry and signed head against the database."""
    audit_verify = server_part("services.bootstrap", "audit_verify")
    report = audit_verify(ctx.settings(), heads=ctx.args.heads)
    if ctx.out.json:
        data = {
            "ok": report.ok,
            "entries": report.entries,
            "heads": report.heads,
            "problems": [str(p) for p in report.problems],
        }
        print(json.dumps(data, ensure_ascii=False), file=ctx.out.stdout)
    elif report.ok:
        print(
            f"OK: {report.entries} entries and {report.heads} signed tree heads check out",
            file=ctx.out.stdout,
        )
    else:
        print(f"FAILED: first problem: {report.first}", file=ctx.out.stdout)
        for problem in report.problems:
            print(f"  - {problem}", file=ctx.out.stdout)
    return 0 if report.ok else 1


def cmd_keys_reseal(ctx: Context) -> int:
    """Re-seal under the current master key."""
    reseal = server_part("services.bootstrap", "reseal")
    count = reseal(ctx.settings())
    ctx.out.note(f"re-sealed {count} values under the current master key")
    return 0


def cmd_audit_head(ctx: Context) -> int:
    """The latest signed tree head."""
    head = ctx.client().get_tree_head(fresh=ctx.args.fresh)
    ctx.out.show(
        head,
        lambda: (
            f"tree size {head.tree_size}\nroot      {head.root_hash.hex()}\n"
            f"signed    {render.when(head.at)} by {head.key_id}"
        ),
    )
    return 0


def cmd_audit_save_head(ctx: Context) -> int:
    """Sign the log as it is now and append the head, as one JSON line, to a file."""
    head = ctx.client().get_tree_head(fresh=True)
    at = head.at.ToDatetime(tzinfo=UTC)
    line = {
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "at": at.isoformat(),
        "key_id": head.key_id,
        "signature": head.signature.hex(),
    }
    with open(ctx.args.output, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
    ctx.out.note(f"saved the signed head of {head.tree_size} entries to {ctx.args.output}")
    return 0


def cmd_catalogue_load_demo(ctx: Context) -> int:
    """Load the demo departments and licence types."""
    load_demo = server_part("services.bootstrap", "load_demo")
    load_demo(ctx.settings())
    ctx.out.note("demo catalogue loaded")
    return 0


# --- diagnostics and catalogue ----------------------------------------------------------------


def cmd_ping(ctx: Context) -> int:
    """Call Diagnostics.Ping and say who the server thinks we are."""
    started = time.perf_counter()
    reply = ctx.client().ping(payload="ping")
    elapsed = (time.perf_counter() - started) * 1000
    ctx.out.show(reply, lambda: f"pong in {elapsed:.1f} ms; calling as {reply.caller_code}")
    return 0


# --- licences ---------------------------------------------------------------------------------


def _labels(ctx: Context, type_code: str) -> dict[str, str]:
    """Field labels of a type, for the human form only; best effort (no labels on error)."""
    if ctx.out.json or not type_code:
        return {}
    try:
        licence_type = ctx.client().get_licence_type(type_code=type_code)
    except YihaoError:
        return {}
    return {f.name: f.label for f in licence_type.fields}


def _show_licence(ctx: Context, licence: pb.Licence) -> int:
    ctx.out.show(licence, lambda: render.licence_card(licence, _labels(ctx, licence.type_code)))
    return 0


def _holder_kind(name: str | None) -> str:
    return f"HOLDER_KIND_{(name or 'unspecified').upper()}"


def cmd_issue(ctx: Context) -> int:
    """Issue an e-licence."""
    a = ctx.args
    holder = common_pb2.Holder(
        kind=_holder_kind(a.holder_kind), number=a.holder, name=a.holder_name
    )
    licence = ctx.client().issue_licence(
        idempotency_key=a.key or "",
        type_code=a.type,
        licence_number=a.number,
        holder=holder,
        fields=dict(a.field),
        valid_from=a.valid_from or "",
        valid_until=a.valid_until or "",
    )
    return _show_licence(ctx, licence)


def cmd_change(ctx: Context) -> int:
    """A new version with changed fields or holder name."""
    a = ctx.args
    licence = ctx.client().change_licence(
        licence=a.ref,
        fields=dict(a.field),
        holder_name=a.holder_name or "",
        reason=a.reason or "",
    )
    return _show_licence(ctx, licence)


def cmd_renew(ctx: Context) -> int:
    """A new version with a new validity period."""
    a = ctx.args
    licence = ctx.client().renew_licence(
        licence=a.ref, valid_until=a.until or "", reason=a.reason or ""
    )
    return _show_licence(ctx, licence)


def cmd_status_change(ctx: Context) -> int:
    """suspend | reinstate | revoke | cancel."""
    a = ctx.args
    method = getattr(ctx.client(), f"{a.command}_licence")
    licence = method(licence=a.ref, reason_code=a.reason, reason_text=a.text or "")
    return _show_licence(ctx, licence)


def why(args: Any) -> dict[str, Any]:
    """The ``--purpose`` and ``--case`` options as request fields (the server says when
    they are missing: reading a person's data needs both)."""
    return {"purpose": args.purpose or "", "case_number": args.case or ""}


def cmd_get(ctx: Context) -> int:
    """A licence (current version, or ``--version``)."""
    licence = ctx.client().get_licence(
        licence=ctx.args.ref,
        version=ctx.args.version,
        consent_grant_id=ctx.args.consent or "",
        **why(ctx.args),
    )
    return _show_licence(ctx, licence)


def cmd_history(ctx: Context) -> int:
    """Every version of a licence and its events."""
    history = ctx.client().get_licence_history(
        licence=ctx.args.ref, consent_grant_id=ctx.args.consent or "", **why(ctx.args)
    )
    ctx.out.show(history, lambda: render.history_card(history))
    return 0


def _licence_pages(ctx: Context) -> Iterator[pb.Licence]:
    a = ctx.args
    statuses = [common_pb2.LicenceStatus.Value(f"LICENCE_STATUS_{s.upper()}") for s in a.status]
    token = ""
    while True:
        page = ctx.client().list_licences_by_holder(
            holder_number=a.holder_number,
            type_codes=a.type,
            statuses=statuses,
            page_size=LIST_PAGE_SIZE,
            page_token=token,
            consent_grant_id=a.consent or "",
            **why(a),
        )
        yield from page.licences
        token = page.next_page_token
        if not token:
            return
        if not a.all_pages:
            ctx.out.note("(more licences: add --all-pages to see them all)")
            return


def cmd_list(ctx: Context) -> int:
    """A holder's licences."""
    ctx.out.show_all(_licence_pages(ctx), render.licences_table)
    return 0


def cmd_watch(ctx: Context) -> int:
    """Licence events, as they come."""
    a = ctx.args
    events = ctx.client().watch_events(after_cursor=a.after, type_codes=a.type, follow=a.follow)
    for event in events:
        _show_event(ctx, event)
    return 0


def _show_event(ctx: Context, event: pb.LicenceEvent) -> None:
    ctx.out.show(event, lambda: render.event_line(event))
