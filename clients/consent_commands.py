"""``yihao consent grant|list|revoke|check``: the holder's consent (授权用证).

The holder portal (``--as portal``) acts for the person it authenticated: grants a department
named licence types (or one licence) for one matter until an expiry, lists the person's
grants with every use and refused attempt, revokes one, and checks whether a grant would
authorise a read (and if not, exactly why). Any other department lists the grants given to
it (``yihao --as housing consent list``) and names one on its reads with ``--consent``.
"""

from __future__ import annotations

from collections.abc import Iterable

from clients import render
from clients.assist_view import at_text, pages
from clients.cli_args import Sub, command, group, positive
from clients.commands import Context
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.departments import code_of

__all__ = ["add_consent_commands"]

PAGE_SIZE = 50
STATES = {
    pb.CONSENT_STATE_ACTIVE: "active 有效",
    pb.CONSENT_STATE_EXPIRED: "expired 已过期",
    pb.CONSENT_STATE_REVOKED: "revoked 已撤回",
}

CONSENT_HELP = """\
The holder portal (--as portal) acts for the person it authenticated. A grant names a
department, licence types (--type, repeatable) or one licence (--licence), the matter
(--item and/or --case) and how long it lasts (--days, at most the server's
YIHAO_CONSENT_MAX_DAYS). Departments name a grant on their reads with --consent GRANT_ID
(list, verify-holder, materials, assist request). For an organisation, --acting-person
names the person the portal authenticated as acting for it (kept masked on the grant)."""


def cmd_grant(ctx: Context) -> int:
    """The holder grants a department the use of licences for one matter."""
    a = ctx.args
    grant = ctx.client().grant_consent(
        holder_number=a.holder_number,
        department_code=code_of(a.to),
        type_codes=a.type,
        licence_id=a.licence or "",
        item_code=a.item or "",
        case_number=a.case or "",
        valid_days=a.days,
        acting_person=a.acting_person or "",
    )
    ctx.out.show(grant, lambda: grant_card(grant))
    return 0


def cmd_list(ctx: Context) -> int:
    """The holder's grants (the portal, naming the holder) or the grants given to me."""
    number = ctx.args.holder_number or ""

    def fetch(token: str) -> pb.ListConsentsResponse:
        return ctx.client().list_consents(
            holder_number=number, page_size=PAGE_SIZE, page_token=token
        )

    ctx.out.show_all(pages(fetch, "grants", ctx), grants_text)
    return 0


def cmd_revoke(ctx: Context) -> int:
    """The holder withdraws a grant, at once."""
    grant = ctx.client().revoke_consent(
        grant_id=ctx.args.grant_id,
        holder_number=ctx.args.holder_number,
        acting_person=ctx.args.acting_person or "",
    )
    ctx.out.show(grant, lambda: grant_card(grant))
    return 0


def cmd_check(ctx: Context) -> int:
    """Whether a grant would authorise a read, and exactly why not (exit 3 when not)."""
    a = ctx.args
    check = ctx.client().check_consent(
        grant_id=a.grant_id,
        holder_number=a.holder_number,
        department_code=code_of(a.department),
        type_code=a.type or "",
        item_code=a.item or "",
        case_number=a.case or "",
    )
    ctx.out.show(check, lambda: f"{'allowed' if check.allowed else 'refused'}  {check.reason}")
    return 0 if check.allowed else 3


def grant_card(g: pb.ConsentGrant) -> str:
    """One grant, with its uses when the holder's side sees them."""
    scope = ", ".join(g.type_codes) if g.type_codes else f"licence {g.licence_id}"
    matter = " / ".join(x for x in (g.item_code, g.case_number) if x)
    lines = [
        f"授权 consent   {g.grant_id}  ({STATES.get(g.state, '?')})",
        f"holder         {g.holder.number}",
        f"department     {g.department_code}",
        f"may read       {scope}",
        f"matter         {matter}",
        f"granted        {at_text(g.granted_at)} by {g.portal_code} (key {g.signature.key_id})"
        + (f", acting {g.granted_by}" if g.granted_by else ""),
        f"expires        {at_text(g.expires_at)}",
    ]
    if g.revoked_at.seconds:
        acting = f", acting {g.revoked_by}" if g.revoked_by else ""
        lines.append(f"revoked        {at_text(g.revoked_at)}{acting}")
    lines += [f"  {at_text(u.at)}  {u.outcome}  {u.department_code}  {u.what}" for u in g.uses]
    return "\n".join(lines)


def grants_text(grants: Iterable[pb.ConsentGrant]) -> str:
    """Grants one card each ("no consents" when there are none)."""
    cards = [grant_card(g) for g in grants]
    return "\n\n".join(cards) if cards else render.table(("consent",), [])


def add_consent_commands(subs: Sub) -> None:
    """``yihao consent ...``."""
    consent = group(
        subs, "consent", "the holder's consent to use licences (授权用证)", CONSENT_HELP
    )
    grant = command(consent, "grant", cmd_grant, "grant a department the use of licences")
    grant.add_argument("holder_number", metavar="HOLDER_NUMBER")
    grant.add_argument("--to", required=True, metavar="DEPT", help="alias or credit code")
    grant.add_argument("--type", action="append", default=[], metavar="CODE")
    grant.add_argument("--licence", metavar="LICENCE_ID", help="one licence instead of types")
    grant.add_argument("--item", metavar="CODE", help="the service or assistance item")
    grant.add_argument("--case", metavar="NUMBER", help="the case number")
    grant.add_argument("--days", type=positive, default=30, metavar="N", help="default 30")
    acting = "an organisation's: the ID number of the person acting for it"
    grant.add_argument("--acting-person", metavar="ID_NUMBER", help=acting)
    lst = command(consent, "list", cmd_list, "a holder's grants, or the grants given to me")
    lst.add_argument("holder_number", nargs="?", metavar="HOLDER_NUMBER")
    lst.add_argument("--all-pages", action="store_true")
    revoke = command(consent, "revoke", cmd_revoke, "withdraw a grant (the holder)")
    revoke.add_argument("grant_id", metavar="GRANT_ID")
    revoke.add_argument("holder_number", metavar="HOLDER_NUMBER")
    revoke.add_argument("--acting-person", metavar="ID_NUMBER", help=acting)
    check = command(consent, "check", cmd_check, "would this grant authorise a read?")
    check.add_argument("grant_id", metavar="GRANT_ID")
    check.add_argument("holder_number", metavar="HOLDER_NUMBER")
    check.add_argument("--department", required=True, metavar="DEPT")
    check.add_argument("--type", metavar="CODE")
    check.add_argument("--item", metavar="CODE")
    check.add_argument("--case", metavar="NUMBER")
