"""The ``yihao assist``, ``supervise``, ``access`` and ``commit`` subcommands' arguments."""

from __future__ import annotations

from clients import assist_commands as ac
from clients import oversight_commands as oc
from clients.cli_args import (
    Sub,
    all_pages_option,
    command,
    consent_option,
    group,
    iso_date,
    key_value,
)

__all__ = ["add_assist_commands"]

REQUEST_STATUSES = ("pending", "answered", "refused")
COMMITMENT_STATUSES = ("pending", "kept", "broken")

ASSIST_HELP = """\
Departments are demo aliases (police, education, ...) or credit codes. Deadlines are
shown in China time (北京时间): a time limit of N working days ends at 23:59 on the N-th
working day after the request, holidays and 调休 counted as the State Council publishes."""


def _assist_item_commands(subs: Sub) -> None:
    items = command(subs, "items", ac.cmd_items, "the catalogue of assistance items (事项清单)")
    items.add_argument("--provider", metavar="CODE", help="items this department provides")
    items.add_argument("--requester", metavar="CODE", help="items granted to this department")
    items.add_argument("--procedure", choices=("automatic", "manual"))
    items.add_argument("--text", metavar="T", help="in the item's code or name")
    req = command(subs, "request", ac.cmd_request, "ask for assistance under an item")
    req.add_argument("item", metavar="ITEM", help="item code, e.g. XZXZ-MZ-001")
    req.add_argument("holder_number", metavar="HOLDER_NUMBER")
    req.add_argument("--purpose", required=True, metavar="TEXT", help="why the data is needed")
    req.add_argument("--basis", metavar="TEXT", help="the legal basis (some items require it)")
    req.add_argument("--case", required=True, metavar="NUMBER", help="the case it is for")
    req.add_argument(
        "--field",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="only these of the item's fields (default: all it grants)",
    )
    req.add_argument(
        "--key", metavar="IDEMPOTENCY_KEY", help="reuse to make a retry safe (default: a fresh one)"
    )
    consent_option(req)


def _assist_request_commands(subs: Sub) -> None:
    command(subs, "show", ac.cmd_show, "one request").add_argument(
        "request_id", metavar="REQUEST_ID"
    )
    mine = command(subs, "mine", ac.cmd_mine, "this department's requests, newest first")
    mine.add_argument("--status", choices=REQUEST_STATUSES)
    all_pages_option(mine)
    command(subs, "pending", ac.cmd_pending, "this provider's queue, oldest deadline first")
    answer = command(subs, "answer", ac.cmd_answer, "answer a pending request (the provider)")
    answer.add_argument("request_id", metavar="REQUEST_ID")
    answer.add_argument(
        "--data", required=True, nargs="+", action="extend", type=key_value, metavar="KEY=VALUE"
    )
    refuse = command(
        subs, "refuse", ac.cmd_refuse, "refuse a pending request on a ground the item lists"
    )
    refuse.add_argument("request_id", metavar="REQUEST_ID")
    refuse.add_argument("--ground", required=True, help="e.g. NOT_HELD (see `assist items`)")
    refuse.add_argument("--explanation", required=True, metavar="TEXT")
    urge = command(subs, "urge", ac.cmd_urge, "urge (催办) a pending request")
    urge.add_argument("request_id", metavar="REQUEST_ID")
    urge.add_argument("--note", metavar="TEXT")
    watch = command(subs, "watch", ac.cmd_watch, "this department's requests as they change")
    watch.add_argument("--follow", action="store_true", help="keep waiting for changes")


def add_assist_commands(subs: Sub) -> None:
    assist = group(
        subs, "assist", "administrative assistance between departments (行政协助)", ASSIST_HELP
    )
    _assist_item_commands(assist)
    _assist_request_commands(assist)
    sup = command(
        subs, "supervise", oc.cmd_supervise, "the electronic supervision report (电子监察)"
    )
    sup.add_argument(
        "--department", nargs="+", action="extend", default=[], metavar="CODE", help="providers"
    )
    sup.add_argument("--from", dest="submitted_from", metavar="DATE", help="submitted on or after")
    sup.add_argument("--to", dest="submitted_to", metavar="DATE", help="submitted on or before")
    sup.add_argument(
        "--max-overdue", type=int, default=0, metavar="N", help="overdue requests listed (100)"
    )
    access = command(
        subs,
        "access",
        oc.cmd_access,
        "who used a holder's data, newest first (holder portal; a supervisor with --purpose "
        "and --case)",
    )
    access.add_argument("holder_number", metavar="HOLDER_NUMBER")
    access.add_argument("--purpose", default="", help="why a supervisor reads them (required)")
    access.add_argument("--case", default="", help="the case they are read for (supervisor)")
    all_pages_option(access)
    commit = group(subs, "commit", "notification-commitments (告知承诺)")
    rec = command(commit, "record", oc.cmd_commit_record, "record an applicant's commitment")
    rec.add_argument("applicant_number", metavar="APPLICANT_NUMBER")
    rec.add_argument("--type", required=True, metavar="CODE", help="licence type promised")
    rec.add_argument("--case", required=True, metavar="NUMBER")
    rec.add_argument("--check-by", required=True, type=iso_date, metavar="DATE")
    rec.add_argument("--name", metavar="NAME", help="the applicant's name")
    command(commit, "list", oc.cmd_commit_list, "commitments (supervisors)").add_argument(
        "--status", choices=COMMITMENT_STATUSES
    )
    command(commit, "check", oc.cmd_commit_check, "check pending commitments now")
