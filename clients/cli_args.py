"""Building blocks of the ``yihao`` argument parser: argument types and subcommand helpers."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from datetime import date
from typing import TypeAlias

from clients import commands as c
from clients.client import licence_ref
from yihao_shared.errors import YihaoError
from yihao_shared.staff import check_staff

__all__ = [
    "FORMATTER",
    "Handler",
    "Sub",
    "all_pages_option",
    "command",
    "consent_option",
    "group",
    "iso_date",
    "key_value",
    "licence_ref_arg",
    "positive",
    "seconds",
    "staff_id",
]

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- argument types ---------------------------------------------------------------------------


def licence_ref_arg(text: str) -> str:
    try:
        licence_ref(text)
    except YihaoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key.strip(), value


def iso_date(text: str) -> str:
    try:
        if _DATE_SHAPE.fullmatch(text):
            date.fromisoformat(text)
            return text
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}")


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def staff_id(text: str) -> str:
    try:
        return check_staff(text)
    except YihaoError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 86_400:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


# --- the parser -------------------------------------------------------------------------------

Sub: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[c.Context], int]
FORMATTER = argparse.RawDescriptionHelpFormatter


def command(
    subs: Sub, name: str, handler: Handler, help: str, epilog: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand running ``handler``; ``help`` doubles as its description."""
    parser = subs.add_parser(
        name, help=help, description=help, epilog=epilog, formatter_class=FORMATTER
    )
    parser.set_defaults(handler=handler)
    return parser


def group(subs: Sub, name: str, help: str, epilog: str | None = None) -> Sub:
    """A subcommand that only groups further subcommands."""
    parser = subs.add_parser(
        name, help=help, description=help, epilog=epilog, formatter_class=FORMATTER
    )
    return parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)


def all_pages_option(parser: argparse.ArgumentParser) -> None:
    """``--all-pages``: follow every page of a paged list."""
    parser.add_argument("--all-pages", action="store_true", help="follow every page")


def consent_option(parser: argparse.ArgumentParser) -> None:
    """``--consent GRANT_ID``: the holder's consent a read is made under."""
    parser.add_argument(
        "--consent",
        metavar="GRANT_ID",
        help="the holder's consent grant (needed for consent-required licence types and items)",
    )
