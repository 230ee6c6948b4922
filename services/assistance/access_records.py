"""Who used a holder's data (用数记录): a page of the holder's access records, newest first.

Read by the holder portal (the holder reads their own) and by supervisors (电子监察). A
supervisor must say why and for which case; its read is recorded for the holder first, as an
access record of its own (channel ``supervision``, in the tamper-evident log like every other),
so the holder sees that the supervision centre looked too.
"""

from __future__ import annotations

from datetime import datetime

from services.common.access_log import AccessRecord, insert_records, records_of
from services.common.database import Database
from services.common.errors import InvalidArgument
from services.common.holder_vault import HolderVault
from services.common.identifiers import parse_holder_number
from services.common.identity import Caller
from services.common.paging import decode_token, encode_token, page_size
from services.common.purpose import why_in

__all__ = ["SUPERVISION_CHANNEL", "access_page"]

#: The channel of a supervisor's read of a holder's access records.
SUPERVISION_CHANNEL = "supervision"
_WHAT = "用数记录 access records (who used this holder's data)"


def access_page(
    db: Database,
    vault: HolderVault,
    now: datetime,
    holder_number: str,
    size: int,
    token: str,
    *,
    supervisor: Caller | None = None,
    purpose: str = "",
    case_number: str = "",
) -> tuple[list[AccessRecord], str]:
    """One page of the holder's records and the next page's token ("" on the last).

    ``supervisor``: the supervising department reading (None: the holder portal); it must
    give ``purpose`` and ``case_number`` (INVALID_ARGUMENT naming each missing one)."""
    holder = parse_holder_number(holder_number, "holder_number")
    why = why_in(purpose, case_number, required=supervisor is not None)
    limit = page_size(size, 50, 500)
    raw = decode_token(token)
    if raw and not (raw.isascii() and raw.isdecimal() and len(raw) <= 18):
        raise InvalidArgument.field(
            "page_token", "is not a token returned by a previous page", "PAGE_TOKEN"
        )
    before = int(raw) if raw else 0
    key = vault.index(holder)
    if supervisor is not None:
        read = AccessRecord(
            holder_key=key,
            department_code=supervisor.code,
            channel=SUPERVISION_CHANNEL,
            what=_WHAT,
            at=now,
            purpose=why.purpose,
            case_number=why.case_number,
            staff=supervisor.staff,
        )
        with db.transaction() as conn:
            insert_records(conn, [read])
    with db.read() as conn:
        rows = records_of(conn, key, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_token(str(rows[-1].record_id)) if more else ""
