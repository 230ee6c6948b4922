"""Checks on what a department sends with an assistance request: idempotency keys, request
ids, a retried submission, and the China calendar day a date filter starts at."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from datetime import time as dt_time

from services.assistance.domain.items import AssistanceItem
from services.assistance.domain.requests import AssistanceRequest
from services.common.clock import CHINA_TZ
from services.common.dates import parse_date
from services.common.errors import Conflict, InvalidArgument
from services.common.identifiers import HolderNumber
from services.common.identity import Caller
from services.licence_store.domain.consent import ConsentPass, Matter
from services.licence_store.reader import ConsentChecker

__all__ = ["IDEMPOTENCY_KEY", "check_id", "check_key", "china_day_start", "same_request"]

IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:\-]{8,128}")


def china_day_start(raw: str, field: str, *, next_day: bool = False) -> datetime | None:
    """The instant a China calendar date begins (or the next one does), None when empty."""
    if not raw.strip():
        return None
    day = parse_date(raw.strip(), field) + timedelta(days=1 if next_day else 0)
    return datetime.combine(day, dt_time.min, tzinfo=CHINA_TZ)


def check_key(key: str) -> str:
    """``key`` if it is a well-formed idempotency key."""
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidArgument.field(
            "idempotency_key",
            "must be 8 to 128 characters of letters, digits and . _ : -",
            "IDEMPOTENCY_KEY",
        )
    return key


def check_id(request_id: str) -> str:
    """``request_id`` trimmed, if it can be a request id."""
    request_id = request_id.strip()
    if not request_id or len(request_id) > 32 or not request_id.isalnum():
        raise InvalidArgument.field("request_id", "is not a request id", "FORMAT")
    return request_id


def same_request(
    earlier: AssistanceRequest, retry: AssistanceRequest, key: str
) -> AssistanceRequest:
    """A retried submission returns the first request; a different one with the key is refused."""
    same = (
        earlier.item_code == retry.item_code
        and earlier.holder == retry.holder
        and earlier.case_number == retry.case_number
        and earlier.requested_fields == retry.requested_fields
        and earlier.purpose == retry.purpose
        and earlier.legal_basis == retry.legal_basis
    )
    if not same:
        raise Conflict(
            f"idempotency key {key!r} was already used for a different request",
            reason="IDEMPOTENCY_KEY_REUSED",
        )
    return earlier


def consent_for(
    consent: ConsentChecker,
    caller: Caller,
    item: AssistanceItem,
    holder: HolderNumber,
    case_number: str,
    grant_id: str,
) -> ConsentPass:
    """The holder's consent to a request: needed when the item, or the licence type it reads,
    is marked consent required; the matter is the item (its code) and/or the case. Refused as
    a whole before anything of the holder is read (``PERMISSION_DENIED CONSENT_REQUIRED``)."""
    types = [item.licence_type_code] if item.licence_type_code else []
    return consent.authorise(
        caller.code,
        holder,
        types,
        Matter(item.code, case_number),
        grant_id,
        channel="assistance",
        strict=True,
        item_consent=item.consent_required,
    )
