"""What regions prove to each other: the forwarding region's assertion about its caller, and
the owning region's receipt for its answer. Plain functions over bytes and keys (no gRPC).

The assertion (canonical JSON, signed with a published receipt key of the forwarding region)
names the original department, the purpose and case number, the RPC, both regions, an instant
and the SHA-256 of the exact request bytes, so it cannot be replayed for another question or
after ``MAX_SKEW``. The owning region's receipt must name the asking department, cite the
assertion, and state for each item the verdict, licence and content hash the answer states.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common.canonical import canonical_json, sha256_hex
from services.common.errors import Unauthenticated
from services.common.ids import time_ordered_id
from services.common.signing import PublicKey

MAX_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Asserted:
    """What a verified assertion states."""

    assertion_id: str
    department: str
    purpose: str
    case_number: str
    staff: str  # the staff member the department said acted ("" if none)
    from_region: str
    rpc: str
    sha256: str  # of the assertion body: receipts cite it


def assertion_body(
    *,
    department: str,
    from_region: str,
    to_region: str,
    rpc: str,
    batch: bytes,
    at: datetime,
    purpose: str = "",
    case_number: str = "",
    staff: str = "",
) -> bytes:
    """The canonical bytes the forwarding region signs."""
    return canonical_json(
        {
            "assertion_id": time_ordered_id("F", at),
            "case_number": case_number,
            "department": department,
            "from_region": from_region,
            "issued_at": at.isoformat(),
            "items_sha256": sha256_hex(batch),
            "purpose": purpose,
            "rpc": rpc,
            "staff": staff,
            "to_region": to_region,
        }
    )


def _refuse(why: str) -> Unauthenticated:
    return Unauthenticated(
        f"the federation assertion is not acceptable: {why}", reason="ASSERTION_INVALID"
    )


def check_assertion(
    body: bytes,
    key_id: str,
    signature: bytes,
    *,
    keys: Mapping[str, PublicKey],
    from_region: str,
    to_region: str,
    rpc: str,
    batch: bytes,
    now: datetime,
) -> Asserted:
    """The assertion's statements, once its signature, regions, RPC, request hash and instant
    hold (UNAUTHENTICATED, reason ASSERTION_INVALID, otherwise)."""
    key = keys.get(key_id)
    if key is None or not key.verify(body, signature):
        raise _refuse("not signed by a published receipt key of the calling region")
    try:
        data = json.loads(body)
        at = datetime.fromisoformat(data["issued_at"])
        stated = {k: data[k] for k in ("from_region", "to_region", "rpc", "items_sha256")}
        who = (
            data["assertion_id"],
            data["department"],
            data["purpose"],
            data["case_number"],
            data.get("staff", ""),
        )
    except (ValueError, KeyError, TypeError):
        raise _refuse("malformed") from None
    expected = {
        "from_region": from_region,
        "to_region": to_region,
        "rpc": rpc,
        "items_sha256": sha256_hex(batch),
    }
    wrong = sorted(k for k, v in expected.items() if stated[k] != v)
    if wrong:
        raise _refuse(f"{', '.join(wrong)} do not match the call")
    if at.tzinfo is None or abs(now - at) > MAX_SKEW:
        raise _refuse("issued too long ago or in the future")
    if not all(isinstance(v, str) for v in who):
        raise _refuse("malformed")
    return Asserted(*who, from_region=from_region, rpc=rpc, sha256=sha256_hex(body))


@dataclass(frozen=True)
class Stated:
    """What an answer from a peer says about one item (checked against its receipt)."""

    verdict: str  # the Verdict value, e.g. "valid"
    licence_id: str
    content_sha256: str
    receipt_id: str


def receipt_problem(
    body: bytes,
    key_id: str,
    signature: bytes,
    *,
    keys: Mapping[str, PublicKey],
    receipt_id: str,
    department: str,
    own_region: str,
    assertion_sha256: str,
    answers: Sequence[Stated],
) -> str:
    """Why a peer's receipt does not vouch for its answers ("" when it does): it must verify
    under one of the peer's published receipt keys, be this receipt, name the department and
    cite our assertion, and state exactly the verdicts, licences and hashes answered."""
    key = keys.get(key_id)
    if key is None or not key.verify(body, signature):
        return "signature"
    try:
        data: dict[str, Any] = json.loads(body)
        via = data.get("via") or {}
        items = data["answers"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "body"
    if data.get("receipt_id") != receipt_id or data.get("requester") != department:
        return "receipt_id or requester"
    if via.get("region") != own_region or via.get("assertion_sha256") != assertion_sha256:
        return "via"
    if not isinstance(items, list) or len(items) != len(answers):
        return "answers"
    for item, said in zip(items, answers, strict=True):
        if (
            not isinstance(item, dict)
            or said.receipt_id != receipt_id
            or (item.get("verdict"), item.get("licence_id"), item.get("content_sha256"))
            != (said.verdict, said.licence_id, said.content_sha256)
        ):
            return "answer"
    return ""
