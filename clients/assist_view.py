"""What the assistance commands show: China time, glosses, cards and names looked up by code.

Shared by ``clients.assist_commands`` (items and requests) and ``clients.oversight_commands``
(supervision, who used my data, notification-commitments).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import timestamp_pb2

from clients import render
from clients.commands import Context
from yihao_shared.errors import YihaoError
from yihao_shared.vocabulary import CHINA_TZ, REFUSAL_GROUNDS

#: Turns a code into something a person reads, e.g. ``福州市公安局 (11350100131860916B)``.
Names = Callable[[str], str]

PAGE_SIZE = 500
PENDING_PAGE_SIZE = 1000  # the server's largest queue page
CHINA_TIME = render.CHINA_TIME
STATUS_GLOSS = {"pending": "待办", "answered": "已答复", "refused": "已拒绝"}
PROCEDURE_GLOSS = {"automatic": "自动", "manual": "人工"}
COMMITMENT_GLOSS = {"pending": "待核查", "kept": "已履行", "broken": "未履行"}
CHANNEL_GLOSS = {
    "verification": "核验",
    "assistance": "行政协助",
    "licence_store": "证照查询",
    "supervision": "电子监察",
}


def china_time(ts: timestamp_pb2.Timestamp) -> str:
    """An instant as China date and time to the minute; empty when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return ""
    return ts.ToDatetime(tzinfo=CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def glossed(name: str, glosses: dict[str, str]) -> str:
    gloss = glosses.get(name)
    return f"{name} {gloss}" if gloss else name


def card(pairs: Iterable[tuple[str, str]]) -> str:
    """Label/value lines, values aligned; empty values left out."""
    shown = [(k, v) for k, v in pairs if v]
    cells = max((render.width(k) for k, _ in shown), default=0)
    return "\n".join(f"{k}{' ' * (cells - render.width(k))}  {v}" for k, v in shown)


def ground_text(ground: str) -> str:
    """``NOT_HELD`` → ``NOT_HELD 本部门未掌握``."""
    gloss = REFUSAL_GROUNDS.get(ground, "").split(" (", 1)[0]
    return f"{ground} {gloss}".strip()


def named(name: str, code: str) -> str:
    return f"{name} ({code})" if name else code


class Lookup:
    """Names by code, each fetched once (human output only); the bare code if that fails."""

    def __init__(self, fetch: Callable[[str], str]) -> None:
        self._fetch = fetch
        self._known: dict[str, str] = {}

    def __call__(self, code: str) -> str:
        """``福州市公安局 (11350100131860916B)``, or the code alone."""
        name = self.short(code)
        return named(name, code) if name != code else code

    def short(self, code: str) -> str:
        """``福州市公安局``, or the code when the name is unknown."""
        if code and code not in self._known:
            try:
                self._known[code] = self._fetch(code) or code
            except YihaoError:
                self._known[code] = code
        return self._known.get(code, "")


def department_names(ctx: Context) -> Lookup:
    """Department names by credit code."""
    return Lookup(lambda code: ctx.client().get_department(credit_code=code).name)


def type_names(ctx: Context) -> Lookup:
    """Licence type names by type code."""
    return Lookup(lambda code: ctx.client().get_licence_type(type_code=code).name)


@dataclass(frozen=True)
class Lookups:
    """What the human output names by code: departments and licence types."""

    department: Lookup
    licence_type: Lookup

    @classmethod
    def of(cls, ctx: Context) -> Lookups:
        """Lookups through the context's client."""
        return cls(department_names(ctx), type_names(ctx))


def field_labels(ctx: Context, item_code: str) -> dict[str, str]:
    """Labels of the licence fields an item provides (best effort: none on error)."""
    try:
        items = list(ctx.client().all_items(text=item_code))
        type_code = next((i.licence_type_code for i in items if i.code == item_code), "")
        if not type_code:
            return {}
        return {f.name: f.label for f in ctx.client().get_licence_type(type_code=type_code).fields}
    except YihaoError:
        return {}


def pages(fetch: Callable[[str], Any], attr: str, ctx: Context) -> Iterator[Any]:
    """Every page of a paged list when ``--all-pages``, else the first with a note."""
    token = ""
    while True:
        page = fetch(token)
        yield from getattr(page, attr)
        token = page.next_page_token
        if not token:
            return
        if not ctx.args.all_pages:
            ctx.out.note("(more: add --all-pages to see them all)")
            return


def at_text(ts: timestamp_pb2.Timestamp) -> str:
    """An instant in China time with the zone named; empty when unset."""
    text = china_time(ts)
    return f"{text} {CHINA_TIME}" if text else ""
