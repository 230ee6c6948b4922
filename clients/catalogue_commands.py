"""The ``yihao departments`` and ``types`` subcommands (and ``ping``): the catalogue's
departments, their signing keys and revoked client certificates, licence types — their
parser (:func:`add_catalogue_commands`) and what each does. The shared
:class:`~clients.commands.Context` and helpers are in :mod:`clients.commands`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import json_format

from clients import commands, render
from clients.cli_args import Sub, command, group
from clients.client import YihaoClient
from clients.commands import (
    DEPARTMENT_PAGE_SIZE,
    Context,
    SetupError,
    beijing_instant,
    server_part,
)
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.departments import code_of
from yihao_shared.errors import InvalidArgument, YihaoError


def _all_departments(client: YihaoClient) -> Iterator[pb.Department]:
    token = ""
    while True:
        page = client.list_departments(page_size=DEPARTMENT_PAGE_SIZE, page_token=token)
        yield from page.departments
        token = page.next_page_token
        if not token:
            return


def cmd_departments_list(ctx: Context) -> int:
    """All departments."""
    ctx.out.show_all(_all_departments(ctx.client()), render.departments_table)
    return 0


def cmd_departments_show(ctx: Context) -> int:
    """One department and its signing keys."""
    department = ctx.client().get_department(credit_code=code_of(ctx.args.code))
    ctx.out.show(department, lambda: render.department_card(department))
    return 0


def cmd_departments_register(ctx: Context) -> int:
    """Register or update a department."""
    department = ctx.client().register_department(
        credit_code=code_of(ctx.args.code),
        name=ctx.args.name,
        region=ctx.args.region,
        roles=[common_pb2.Role.Value(f"ROLE_{role.upper()}") for role in ctx.args.role],
    )
    ctx.out.show(department, lambda: render.department_card(department))
    return 0


def cmd_departments_rotate_key(ctx: Context) -> int:
    """Start a new signing key for a department."""
    department = ctx.client().rotate_signing_key(credit_code=code_of(ctx.args.code))
    ctx.out.show(department, lambda: render.department_card(department))
    return 0


def cmd_key_compromised(ctx: Context) -> int:
    """Mark a department signing key compromised from an instant."""
    request = pb.MarkKeyCompromisedRequest(key_id=ctx.args.key_id)
    if ctx.args.since:
        request.compromised_at.FromDatetime(beijing_instant(ctx.args.since, "--since"))
    department = ctx.client().mark_key_compromised(request)
    ctx.out.show(department, lambda: render.department_card(department))
    return 0


def cmd_revoke_certificate(ctx: Context) -> int:
    """Put a client certificate on the revocation list."""
    a = ctx.args
    serial = a.serial or ""
    if a.cert:
        certificate_serial = server_part("services.common.pki", "certificate_serial")
        try:
            serial = certificate_serial(Path(a.cert).read_bytes())
        except OSError as exc:
            raise SetupError(
                InvalidArgument.field("--cert", f"cannot read {a.cert}: {exc.strerror}", "FILE")
            ) from None
        if not serial:
            raise SetupError(InvalidArgument.field("--cert", "not a PEM certificate", "FORMAT"))
    department = ctx.client().revoke_certificate(
        serial_number=serial, department_code=code_of(a.code), reason=a.reason
    )
    ctx.out.note(f"certificate {serial} of {department.name} is revoked")
    return 0


def cmd_types_list(ctx: Context) -> int:
    """Licence types, optionally those one department issues."""
    issuer = code_of(ctx.args.issuer) if ctx.args.issuer else ""
    types = list(ctx.client().all_licence_types(issuer_code=issuer))
    ctx.out.show_all(types, render.licence_types_table)
    return 0


def cmd_types_show(ctx: Context) -> int:
    """One licence type with its fields."""
    licence_type = ctx.client().get_licence_type(type_code=ctx.args.code)
    ctx.out.show(licence_type, lambda: render.licence_type_card(licence_type))
    return 0


def _short_enum(value: object, prefix: str) -> object:
    """``"organisation"`` → ``"HOLDER_KIND_ORGANISATION"``; anything else unchanged."""
    if isinstance(value, str) and not value.upper().startswith(prefix):
        return prefix + value.upper()
    return value


def _field_spec_json(spec: object) -> object:
    if not isinstance(spec, dict):
        return spec
    return {**spec, "type": _short_enum(spec.get("type", 0), "FIELD_TYPE_")}


def licence_type_from_json(data: object) -> pb.LicenceType:
    """A ``LicenceType`` from the JSON shape ``types register`` documents."""
    if not isinstance(data, dict):
        raise InvalidArgument.field("file", "must hold a JSON object describing a licence type")
    data = dict(data)
    data["holder_kind"] = _short_enum(data.get("holder_kind", 0), "HOLDER_KIND_")
    data["issuer_codes"] = [code_of(str(code)) for code in data.get("issuer_codes", [])]
    fields = data.get("fields", [])
    if isinstance(fields, list):
        data["fields"] = [_field_spec_json(f) for f in fields]
    try:
        return json_format.ParseDict(data, pb.LicenceType())
    except json_format.ParseError as exc:
        raise InvalidArgument.field("file", str(exc)) from exc


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise InvalidArgument.field("file", f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument.field("file", f"{path} is not valid JSON: {exc}") from exc


def cmd_types_register(ctx: Context) -> int:
    """Register a licence type described by a JSON file."""
    try:
        licence_type = licence_type_from_json(_read_json(ctx.args.file))
    except YihaoError as exc:
        raise SetupError(exc) from exc
    registered = ctx.client().register_licence_type(licence_type=licence_type)
    ctx.out.show(registered, lambda: render.licence_type_card(registered))
    return 0


# --- the parser -------------------------------------------------------------------------------

ROLES = (
    "operator",
    "handler",
    "requester",
    "provider",
    "supervisor",
    "holder_portal",
    "administrator",
)

TYPE_JSON_HELP = """\
FILE.json describes one licence type, e.g.:

  {"type_code": "11100000000013338W011", "name": "营业执照",
   "holder_kind": "organisation",            (person | organisation)
   "default_validity_days": 0,                (0 = no expiry)
   "issuer_codes": ["market"],                (credit codes or demo aliases)
   "fields": [{"name": "legal_representative", "label": "法定代表人",
               "type": "string",              (string | date | integer | decimal | boolean)
               "required": true, "sensitive": false, "max_length": 0}]}

Enum values may also be given in full (HOLDER_KIND_ORGANISATION, FIELD_TYPE_STRING)."""


def add_catalogue_commands(subs: Sub) -> None:
    """``yihao ping``, ``departments ...`` and ``types ...``."""
    command(subs, "ping", commands.cmd_ping, "check the server answers, and who it takes us for")
    deps = group(subs, "departments", "departments (发证部门 and others)")
    command(deps, "list", cmd_departments_list, "all departments")
    command(deps, "show", cmd_departments_show, "one department").add_argument("code")
    reg = command(deps, "register", cmd_departments_register, "register or update one")
    reg.add_argument("--code", required=True, help="credit code")
    reg.add_argument("--name", required=True)
    reg.add_argument("--region", required=True, help="GB/T 2260 region code, e.g. 350100")
    reg.add_argument("--role", required=True, nargs="+", action="extend", choices=ROLES)
    command(deps, "rotate-key", cmd_departments_rotate_key, "start a new signing key").add_argument(
        "code"
    )
    bad = command(
        deps,
        "key-compromised",
        cmd_key_compromised,
        "distrust what a signing key signed from --since (default now); replaces a current key",
    )
    bad.add_argument("key_id", metavar="KEY_ID")
    rev = command(
        deps,
        "revoke-cert",
        cmd_revoke_certificate,
        "refuse a department's client certificate from now on (lost, stolen, staff left)",
    )
    rev.add_argument("code", metavar="DEPARTMENT")
    which = rev.add_mutually_exclusive_group(required=True)
    which.add_argument("--serial", metavar="HEX", help="as `openssl x509 -serial` prints it")
    which.add_argument("--cert", metavar="FILE", help="the certificate itself (PEM)")
    rev.add_argument("--reason", default="", metavar="TEXT")
    bad.add_argument(
        "--since",
        metavar="DATETIME",
        help="ISO 8601 instant the key was exposed (Beijing time unless it has an offset)",
    )
    types = group(subs, "types", "licence types (证照目录)")
    command(types, "list", cmd_types_list, "licence types").add_argument(
        "--issuer", metavar="CODE", help="only those this department issues"
    )
    command(types, "show", cmd_types_show, "one licence type").add_argument("code")
    command(
        types, "register", cmd_types_register, "register a licence type", epilog=TYPE_JSON_HELP
    ).add_argument("file", type=Path, metavar="FILE.json")
