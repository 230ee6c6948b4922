"""The ``yihao`` command line: run the server, set it up, work with e-licences and assistance.

Global options come before the subcommand::

    yihao [--address HOST:PORT] [--as DEPT] [--staff ID] [--var-dir DIR] [--json] [--timeout S]
          COMMAND ...

``--as`` names the calling department by demo alias (``market``, ``civil``, ``police``, ...)
or credit code; its client certificate is taken from ``<var>/pki/clients/``. ``--staff``
names the department's staff member who acts (the ``yihao-staff`` metadata), recorded with
the department in receipts, access records and licence events. A licence REF is
an e-licence identifier (``1.2.156.3005.2....``) or ``TYPE_CODE:LICENCE_NUMBER``.

Exit codes: 0 success; 1 the server refused (or an import rejected some records); 2 usage,
configuration or connection problems; 130 interrupted. Errors never print a traceback
(set ``YIHAO_DEBUG=1`` to get one for unexpected failures).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clients import catalogue_commands as cat
from clients import commands as c
from clients import monitor_command as mc
from clients import verify_commands as v
from clients.assist_cli import add_assist_commands
from clients.bulk import DEFAULT_BATCH, cmd_import
from clients.cli_args import (
    FORMATTER,
    Sub,
    command,
    consent_option,
    group,
    iso_date,
    key_value,
    licence_ref_arg,
    positive,
    seconds,
    staff_id,
)
from clients.connection import DEFAULT_TIMEOUT
from clients.consent_commands import add_consent_commands
from clients.federation_commands import add_federation_commands
from clients.importfile import FORMATS
from clients.web.cli import add_web_commands
from yihao_shared.environment import (
    DEFAULT_ADDRESS,
    DEFAULT_AS,
    KNOWN_SERVICES,
    load_client_settings,
)
from yihao_shared.errors import YihaoError

__all__ = ["build_parser", "main"]

STATUSES = ("active", "suspended", "revoked", "cancelled")

IMPORT_HELP = """\
Each record has type_code, licence_number, holder_number, holder_name and optionally
holder_kind, valid_from, valid_until and idempotency_key (default
"import:<type_code>:<licence_number>", so importing a file again creates nothing new).
Licence data fields: JSON Lines -> an object "fields"; CSV -> columns "field.<name>".
Exit code 0 if every record was accepted or a duplicate, 1 if some were rejected."""


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", help=f"server HOST:PORT (default $YIHAO_ADDRESS or {DEFAULT_ADDRESS})"
    )
    parser.add_argument(
        "--as",
        dest="as_",
        metavar="DEPT",
        default=load_client_settings().as_department,
        help=f"calling department: alias or credit code (default $YIHAO_AS or {DEFAULT_AS})",
    )
    parser.add_argument(
        "--staff",
        type=staff_id,
        metavar="ID",
        help="the department's staff member who acts, recorded with the department "
        "(1-64 of A-Z a-z 0-9 . _ @ -)",
    )
    parser.add_argument(
        "--var-dir", type=Path, help="directory of the dev PKI (default $YIHAO_VAR_DIR or ./var)"
    )
    parser.add_argument(
        "--json", action="store_true", help="machine output: one proto-JSON object per line"
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds a call may take, retries included (default {DEFAULT_TIMEOUT:g})",
    )


def _server_commands(subs: Sub) -> None:
    serve = command(subs, "serve", c.cmd_serve, "run the server in the foreground")
    serve.add_argument(
        "--service",
        action="append",
        choices=KNOWN_SERVICES,
        help="host only this service (repeatable; default all)",
    )
    serve.add_argument("--workers", type=positive, help="server processes")
    serve.add_argument("--listen", metavar="HOST:PORT", help="address to bind")
    pki = group(subs, "pki", "development PKI")
    init = command(pki, "init", c.cmd_pki_init, "create the CA and certificates in <var>/pki")
    init.add_argument("--force", action="store_true", help="make everything anew")
    db = group(subs, "db", "database schema")
    command(db, "upgrade", c.cmd_db_upgrade, "bring the schema up to date")
    audit = group(subs, "audit", "the tamper-evident log")
    check = command(
        audit,
        "verify",
        c.cmd_audit_verify,
        "recompute the log from the database (run where the database is); exit 1 on a problem",
    )
    check.add_argument(
        "--heads",
        metavar="FILE",
        help="signed tree heads saved outside the database (by `audit save-head`): the log "
        "must still hold what each signed",
    )
    head = command(audit, "head", c.cmd_audit_head, "the latest signed tree head (via the server)")
    head.add_argument("--fresh", action="store_true", help="sign the log as it is now first")
    save = command(
        audit,
        "save-head",
        c.cmd_audit_save_head,
        "sign the log as it is now (via the server) and append the head to FILE, kept away "
        "from the database for `audit verify --heads`",
    )
    save.add_argument("-o", "--output", metavar="FILE", required=True, help="file to append to")
    monitor = command(audit, "monitor", mc.cmd_audit_monitor, mc.HELP)
    mc.add_arguments(monitor, seconds=seconds)
    keys = group(subs, "keys", "master keys (secrets at rest)")
    command(
        keys,
        "reseal",
        c.cmd_keys_reseal,
        "re-seal values sealed under older master keys (after a rotation; servers also do "
        "this at start)",
    )
    catalogue = group(subs, "catalogue", "catalogue setup")
    command(
        catalogue,
        "load-demo",
        c.cmd_catalogue_load_demo,
        "load the demo departments and licence types",
    )


def _fields_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "--field", action="append", type=key_value, default=[], metavar="KEY=VALUE", help=help
    )


def _issue_command(subs: Sub) -> None:
    issue = command(subs, "issue", c.cmd_issue, "issue an e-licence as the calling department")
    issue.add_argument("--type", required=True, metavar="CODE", help="licence type code")
    issue.add_argument("--number", required=True, metavar="N", help="licence number")
    issue.add_argument("--holder", required=True, metavar="NUMBER", help="ID number or credit code")
    issue.add_argument("--holder-name", required=True, metavar="NAME")
    issue.add_argument("--holder-kind", choices=("person", "organisation"))
    _fields_option(issue, "a licence data field (repeatable)")
    issue.add_argument("--valid-from", type=iso_date, metavar="DATE")
    issue.add_argument("--valid-until", type=iso_date, metavar="DATE")
    issue.add_argument(
        "--key", metavar="IDEMPOTENCY_KEY", help="reuse to make a retry safe (default: a fresh one)"
    )


def _change_commands(subs: Sub) -> None:
    change = command(subs, "change", c.cmd_change, "a new version with changed data")
    change.add_argument("ref", type=licence_ref_arg, metavar="REF")
    _fields_option(change, "set a field; KEY= removes an optional one (repeatable)")
    change.add_argument("--holder-name", metavar="NAME")
    change.add_argument("--reason", metavar="TEXT")
    renew = command(subs, "renew", c.cmd_renew, "a new version with a new validity")
    renew.add_argument("ref", type=licence_ref_arg, metavar="REF")
    renew.add_argument("--until", type=iso_date, metavar="DATE")
    renew.add_argument("--reason", metavar="TEXT")
    for name, what in (
        ("suspend", "suspend (暂扣) a licence"),
        ("reinstate", "lift a licence's suspension"),
        ("revoke", "revoke (吊销) a licence; final"),
        ("cancel", "cancel (注销) a licence; final"),
    ):
        cmd = command(subs, name, c.cmd_status_change, what)
        cmd.add_argument("ref", type=licence_ref_arg, metavar="REF")
        cmd.add_argument("--reason", required=True, metavar="CODE", help="coded reason")
        cmd.add_argument("--text", metavar="TEXT", help="free text (needed for OTHER)")


WHY_EPILOG = (
    "Reading a person's data needs --purpose (why it is read) and --case (the case it is "
    "read for): the holder's access record keeps both. An organisation's public "
    "registration data needs neither."
)


def _why_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--purpose", metavar="TEXT", help="why the data is read (事由)")
    cmd.add_argument("--case", metavar="NUMBER", help="the case it is read for (案号)")


def _query_commands(subs: Sub) -> None:
    get = command(subs, "get", c.cmd_get, "show a licence", epilog=WHY_EPILOG)
    get.add_argument("ref", type=licence_ref_arg, metavar="REF")
    get.add_argument("--version", type=positive, default=0, metavar="N")
    consent_option(get)
    history = command(
        subs, "history", c.cmd_history, "versions and events of a licence", epilog=WHY_EPILOG
    )
    history.add_argument("ref", type=licence_ref_arg, metavar="REF")
    consent_option(history)
    lst = command(subs, "list", c.cmd_list, "a holder's licences", epilog=WHY_EPILOG)
    lst.add_argument("holder_number", metavar="HOLDER_NUMBER")
    lst.add_argument("--type", action="append", default=[], metavar="CODE")
    lst.add_argument("--status", action="append", default=[], choices=STATUSES)
    lst.add_argument("--all-pages", action="store_true")
    consent_option(lst)
    for cmd in (get, history, lst):
        _why_options(cmd)
    watch = command(subs, "watch", c.cmd_watch, "licence events after a cursor")
    watch.add_argument("--after", type=int, default=0, metavar="CURSOR")
    watch.add_argument("--type", action="append", default=[], metavar="CODE")
    watch.add_argument("--follow", action="store_true", help="keep waiting for new events")
    imp = command(
        subs,
        "import",
        cmd_import,
        "bulk-import licences from JSON Lines or CSV",
        epilog=IMPORT_HELP,
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--format", choices=FORMATS, help="default: from the file name")
    imp.add_argument(
        "--batch",
        type=positive,
        default=DEFAULT_BATCH,
        metavar="N",
        help=f"records per stream (default {DEFAULT_BATCH}); a broken connection "
        "loses at most one stream's work",
    )


def _verify_commands(subs: Sub) -> None:
    ver = command(
        subs,
        "verify",
        v.cmd_verify,
        "verify a licence at the counter: verdict, holder match, receipt",
        epilog="Exit code 0 when the verdict is VALID, 3 for any other verdict. "
        "With --holder (a citizen's ID number), --purpose and --case are required.",
    )
    ver.add_argument("ref", type=licence_ref_arg, metavar="REF")
    ver.add_argument("--holder", metavar="NUMBER", help="the holder number the applicant presents")
    ver.add_argument("--holder-name", metavar="NAME", help="the holder name the applicant presents")
    ver.add_argument(
        "--as-of",
        metavar="DATETIME",
        help="the verdict at a past instant (ISO 8601; Beijing time unless it has an offset)",
    )
    _why_options(ver)
    hold = command(
        subs, "verify-holder", v.cmd_verify_holder, "verify a holder's licences", epilog=WHY_EPILOG
    )
    hold.add_argument("holder_number", metavar="HOLDER_NUMBER")
    hold.add_argument("--type", action="append", default=[], metavar="CODE")
    hold.add_argument("--holder-name", metavar="NAME")
    hold.add_argument("--valid-only", action="store_true")
    _why_options(hold)
    consent_option(hold)
    command(
        subs, "receipt", v.cmd_receipt, "show a verification receipt and check it"
    ).add_argument("receipt_id", metavar="RECEIPT_ID")
    exp = command(subs, "export", v.cmd_export, "export a licence as a signed document")
    exp.add_argument("ref", type=licence_ref_arg, metavar="REF")
    exp.add_argument("--version", type=positive, default=0, metavar="N")
    exp.add_argument("-o", "--output", metavar="FILE")
    qr = command(subs, "qr", v.cmd_qr, "a short-lived QR payload for showing a licence")
    qr.add_argument("ref", type=licence_ref_arg, metavar="REF")
    qr.add_argument("--ttl", type=positive, default=300, metavar="SECONDS")
    keys = command(subs, "issuer-keys", v.cmd_issuer_keys, "publish the issuers' public keys")
    keys.add_argument("--issuer", action="append", default=[], metavar="CODE")
    keys.add_argument("-o", "--output", metavar="FILE")
    doc = command(
        subs,
        "verify-document",
        v.cmd_verify_document,
        "check a presented signed document (or --qr PAYLOAD)",
        epilog="--offline --keys KEYS checks integrity with no server at all (status: "
        "CANNOT_CHECK). Exit code 0 when VALID (offline: authentic), 3 otherwise.",
    )
    doc.add_argument("file", nargs="?", metavar="FILE")
    doc.add_argument("--qr", metavar="PAYLOAD")
    doc.add_argument("--offline", action="store_true")
    doc.add_argument("--keys", metavar="KEYS", help="issuer keys file (from issuer-keys)")
    command(subs, "service-items", v.cmd_service_items, "service items and their materials")
    mat = command(
        subs, "materials", v.cmd_materials, "which materials the applicant need not bring"
    )
    mat.add_argument("item", metavar="ITEM")
    mat.add_argument("applicant", metavar="APPLICANT_NUMBER")
    mat.add_argument("--case", metavar="NUMBER", help="the case it is checked for (案号)")
    mat.add_argument("--purpose", metavar="TEXT", help="default: handling the service item")
    consent_option(mat)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``yihao`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="yihao",
        description="Yihao (一号) e-licence store: server, setup and client.",
        formatter_class=FORMATTER,
    )
    _global_options(parser)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (
        _server_commands,
        cat.add_catalogue_commands,
        _issue_command,
        _change_commands,
        _query_commands,
        _verify_commands,
        add_assist_commands,
        add_web_commands,
        add_federation_commands,
        add_consent_commands,
    ):
        add(subs)
    return parser


# --- running ----------------------------------------------------------------------------------


_TLS_WORDS = ("ssl", "tls", "handshake", "certificate", "verification")


def _why_hint(error: YihaoError) -> str | None:
    """Which options supply a missing purpose or case number."""
    missing = {v.field.rsplit(".", 1)[-1] for v in getattr(error, "violations", ())}
    missing &= {"purpose", "case_number"}
    if not missing or error.status != "INVALID_ARGUMENT":
        return None
    options = " and ".join(o for f, o in WHY_OPTIONS if f in missing)
    return f"hint: reading a person's data needs {options} (the holder's access record keeps them)"


WHY_OPTIONS = (("purpose", "--purpose TEXT"), ("case_number", "--case NUMBER"))


def _hint(error: YihaoError, address: str | None) -> str | None:
    """What to check for an UNAVAILABLE error, from the little gRPC tells us."""
    if error.status != "UNAVAILABLE":
        return None
    text = error.message.lower()
    if any(word in text for word in _TLS_WORDS):
        return (
            "hint: the TLS handshake failed; do the server and <var>/pki come from the same "
            "`yihao pki init`?"
        )
    where = address or load_client_settings().address
    if "socket closed" in text:
        return (
            f"hint: {where} closed the connection; is your client certificate from the "
            "server's CA (`yihao pki init`), and is it a Yihao server?"
        )
    return f"hint: is the server running at {where}? start it with `make run`"


def _headline(error: YihaoError) -> str:
    """The message, unless it only repeats the field violations listed under it."""
    violations = getattr(error, "violations", [])
    joined = "; ".join(f"{v.field}: {v.description}" for v in violations)
    if not violations or error.message != joined:
        return error.message
    names = list(dict.fromkeys(v.field for v in violations))
    return f"invalid {names[0]}" if len(names) == 1 else f"{len(names)} invalid fields"


def report(error: YihaoError, out: c.Output, address: str | None = None) -> int:
    """Print ``error`` (never a traceback) and return the exit code for it."""
    out.note(f"error: {error.status} {error.reason}: {_headline(error)}")
    for violation in getattr(error, "violations", ()):
        out.note(f"  - {violation.field}: {violation.description}")
    hint = _hint(error, address) or _why_hint(error)
    if hint:
        out.note(hint)
    return 2 if error.status == "UNAVAILABLE" else 1


def _run(ctx: c.Context) -> int:
    try:
        return ctx.args.handler(ctx)  # type: ignore[no-any-return]
    except c.SetupError as exc:
        report(exc.error, ctx.out, ctx.args.address)
        return 2
    except YihaoError as exc:
        return report(exc, ctx.out, ctx.args.address)
    finally:
        ctx.close()


def _unexpected(exc: Exception, out: c.Output) -> int:
    if load_client_settings().debug:
        raise exc
    out.note(f"error: unexpected {type(exc).__name__}: {exc} (YIHAO_DEBUG=1 shows details)")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run ``yihao`` with ``argv`` (default: the process arguments); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    out = c.Output(json=args.json)
    try:
        return _run(c.Context(args, out))
    except KeyboardInterrupt:
        out.note("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        return _unexpected(exc, out)


if __name__ == "__main__":
    sys.exit(main())
