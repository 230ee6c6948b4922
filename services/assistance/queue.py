"""A provider's queue of pending requests (ListPending), oldest deadline first, paged by
(deadline, request id) so that a page token stays valid while requests come and go."""

from __future__ import annotations

from sqlalchemy import Connection

from services.assistance.domain.requests import AssistanceRequest, RequestStatus
from services.assistance.persistence import repository as repo
from services.common.holder_vault import HolderVault
from services.common.paging import (
    decode_token,
    encode_token,
    page_size,
    split_timed_position,
    timed_position,
)

__all__ = ["pending_page", "pending_position"]

DEFAULT_SIZE = 100
MAX_SIZE = 1000


def pending_position(request: AssistanceRequest) -> str:
    """Where a request stands in its provider's queue, for a page token."""
    return timed_position(request.deadline, request.request_id)


def pending_page(
    conn: Connection, vault: HolderVault, provider: str, size: int, token: str
) -> tuple[list[AssistanceRequest], str]:
    """A page of ``provider``'s pending requests after ``token``, and the next page's token
    ("" on the last)."""
    limit = page_size(size, DEFAULT_SIZE, MAX_SIZE)
    after = split_timed_position(decode_token(token))
    rows = repo.list_requests(
        conn,
        vault=vault,
        provider=provider,
        status=RequestStatus.PENDING,
        after=after[1] if after else "",
        after_deadline=after[0] if after else None,
        limit=limit + 1,
        by_deadline=True,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_token(pending_position(rows[-1])) if more else ""
