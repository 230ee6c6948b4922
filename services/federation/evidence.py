"""What regions prove to each other: the forwarding region's assertion about its caller, and
the owning region's receipt for its answer. Plain functions over bytes and keys (no gRPC).

The assertion (canonical JSON, signed with a published receipt key of the forwarding region)
names the original department, the purpose and case number, the RPC, both regions, an instant,
a short validity (``VALIDITY``) and a random nonce, and the SHA-256 of the exact request bytes,
so it cannot be used for another question, after it expires, or (the owning region remembers
each nonce until its assertion expires: :mod:`services.federation.replay`) a second time.
The owning region's receipt must name the asking department, cite the assertion, and state
for each item the verdict, licence and content hash the answer states.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.common.canonical import canonical_json, sha256_hex
from services.common.errors import Unauthenticated
from services.common.ids import time_ordered_id
from services.common.signing import PublicKey
from services.verifier.domain.receipt import receipt_signature_holds

#: How long an assertion is good for (the forwarding region sets ``expires_at`` this far on).
VALIDITY = timedelta(seconds=60)
#: The longest validity the owning region accepts (an assertion that claims more is refused).
MAX_VALIDITY = timedelta(minutes=5)
#: Clock difference tolerated between regions: an assertion issued up to this far in the
#: future, or expired up to this long ago, is still accepted. Remembered nonces are kept until
#: ``expires_at + MAX_SKEW`` so that no accepted assertion can be accepted twice.
MAX_SKEW = timedelta(seconds=30)
#: The assertion statement ``acting_as`` of a region's supervisor urging its department's request.
SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Asserted:
    """What a verified assertion states."""

    assertion_id: str
    nonce: str
    expires_at: datetime
    department: str
    purpose: str
    case_number: str
    staff: str  # the staff member the department said acted ("" if none)
    from_region: str
    rpc: str
    sha256: str  # of the assertion body: receipts cite it
    #: The region states the department acts as its supervisor (``"acting_as": "supervisor"``),
    #: not as the requester: only an urging of a request from that region may rely on it.
    supervisor: bool = False


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
    extra: Mapping[str, str] | None = None,
) -> bytes:
    """The canonical bytes the forwarding region signs (``extra``: more statements, e.g. a
    consent grant id, that the owning region reads from the verified body)."""
    return canonical_json(
        {
            **(extra or {}),
            "assertion_id": time_ordered_id("F", at),
            "case_number": case_number,
            "department": department,
            "expires_at": (at + VALIDITY).isoformat(),
            "from_region": from_region,
            "issued_at": at.isoformat(),
            "items_sha256": sha256_hex(batch),
            "nonce": secrets.token_hex(16),
            "purpose": purpose,
            "rpc": rpc,
            "staff": staff,
            "to_region": to_region,
        }
    )


def _refuse(why: str, reason: str = "ASSERTION_INVALID") -> Unauthenticated:
    return Unauthenticated(f"the federation assertion is not acceptable: {why}", reason=reason)


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
    """The assertion's statements, once its signature, regions, RPC, request hash and validity
    hold (UNAUTHENTICATED otherwise: reason ASSERTION_EXPIRED when it is no longer valid, else
    ASSERTION_INVALID). Whether its nonce was seen before is the caller's question."""
    key = keys.get(key_id)
    if key is None or not key.verify(body, signature):
        raise _refuse("not signed by a published receipt key of the calling region")
    try:
        data = json.loads(body)
        at = datetime.fromisoformat(data["issued_at"])
        expires = datetime.fromisoformat(data["expires_at"])
        nonce = data["nonce"]
        stated = {k: data[k] for k in ("from_region", "to_region", "rpc", "items_sha256")}
        who = (
            data["assertion_id"],
            data["department"],
            data["purpose"],
            data["case_number"],
            data.get("staff", ""),
        )
        acting_as = data.get("acting_as", "")
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
    _check_validity(at, expires, now)
    if not all(isinstance(v, str) for v in who) or not _is_nonce(nonce):
        raise _refuse("malformed")
    if acting_as not in ("", SUPERVISOR):
        raise _refuse(f"acting_as must be {SUPERVISOR!r} when stated")
    return Asserted(
        who[0],
        nonce,
        expires,
        *who[1:],
        from_region=from_region,
        rpc=rpc,
        sha256=sha256_hex(body),
        supervisor=acting_as == SUPERVISOR,
    )


def _is_nonce(value: Any) -> bool:
    return isinstance(value, str) and 32 <= len(value) <= 64 and value.isalnum()


def _check_validity(at: datetime, expires: datetime, now: datetime) -> None:
    if at.tzinfo is None or expires.tzinfo is None:
        raise _refuse("issued_at and expires_at must carry a time zone")
    if not timedelta(0) < expires - at <= MAX_VALIDITY:
        raise _refuse(f"its validity must be more than 0 and at most {MAX_VALIDITY}")
    if at > now + MAX_SKEW:
        raise _refuse("issued in the future")
    if now > expires + MAX_SKEW:
        raise _refuse(f"expired at {expires.isoformat()}", "ASSERTION_EXPIRED")


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
    algorithm: str,
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
    under one of the peer's published receipt keys as its ``algorithm`` says (over its body's
    digest, or its body for a peer that signs receipts as before), be this receipt, name the
    department and cite our assertion, and state exactly the verdicts, licences and hashes
    answered."""
    key = keys.get(key_id)
    if key is None or not receipt_signature_holds(key, algorithm, body, signature):
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
