"""Verification receipts (核验回执): signed records a case file cites instead of a photocopy.

A receipt's body is canonical JSON naming who asked, when, what was asked, the verdict and
the hash of the licence version it was based on; the verifier signs the body's SHA-256 (see
:data:`DIGEST_SIGNED`; receipts made before signed the body bytes, and still verify). A
receipt for a batch covers every item of the chunk it answered, each by its client reference.
When the requesting department named the staff member acting (``yihao-staff``), the body says
so too (``"staff"``, the department's assertion); a body without the key is a receipt whose
department named nobody, as every receipt made before the key existed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, Final, Protocol

from services.common.canonical import canonical_json
from services.common.evidence import Entry
from services.common.ids import time_ordered_id
from services.verifier.domain.verdict import Verdict

#: json.dumps' escaping, as canonical JSON writes strings (Final: a C static when compiled,
#: not a lookup in the module's globals on every use).
_json_str: Final = encode_basestring


#: The suffix of the ``algorithm`` a receipt states when its key signed the SHA-256 of its body
#: (``Ed25519-SHA256``: Ed25519 over :data:`DIGEST_CONTEXT` followed by the 32 bytes of the
#: body's SHA-256) rather than the body itself (``Ed25519``, every receipt made before). A
#: batch receipt's body is ~600 KB, which Ed25519 hashes twice with SHA-512 when it signs
#: the body: 12 % of VerifyBatch's server CPU, for nothing a 32-byte digest does not bind as
#: tightly. The context keeps a receipt's signed bytes apart from anything else the receipt
#: key signs (assistance decisions and federation assertions sign JSON, which starts ``{``).
DIGEST_SIGNED: Final = "-SHA256"
DIGEST_CONTEXT: Final = b"yihao receipt body sha256\x00"


#: The log entry kind of a receipt.
KIND: Final = "receipt"


def digest_signed(key_algorithm: str) -> str:
    """The ``algorithm`` a receipt states when a key of ``key_algorithm`` signs its body's
    digest (what the verifier makes today)."""
    return key_algorithm + DIGEST_SIGNED


def signed_part(algorithm: str, body: bytes) -> tuple[str, bytes]:
    """What a receipt's signature covers, by the ``algorithm`` the receipt states: (the
    algorithm of the key that signed, the bytes it signed)."""
    if algorithm.endswith(DIGEST_SIGNED):
        return algorithm[: -len(DIGEST_SIGNED)], _digest_message(hashlib.sha256(body).digest())
    return algorithm, body


def _digest_message(body_sha256: bytes) -> bytes:
    """The bytes a :data:`DIGEST_SIGNED` receipt's key signs, given its body's SHA-256."""
    return DIGEST_CONTEXT + body_sha256


def digest_signature(sign: Callable[[bytes], bytes], body: bytes) -> tuple[bytes, str]:
    """(the signature ``sign`` makes over ``body``'s digest, as :data:`DIGEST_SIGNED` receipts
    are signed; the hex SHA-256 its log entry states, :func:`receipt_entry`): the body hashed
    once for both (a batch receipt's is ~600 KB)."""
    digest = hashlib.sha256(body)
    signature = sign(_digest_message(digest.digest()))
    digest.update(signature)
    return signature, digest.hexdigest()


class VerifyingKey(Protocol):
    """A public key that checks signatures (:class:`services.common.signing.PublicKey`)."""

    @property
    def algorithm(self) -> str: ...

    def verify(self, data: bytes, signature: bytes) -> bool: ...


def receipt_signature_holds(
    key: VerifyingKey, algorithm: str, body: bytes, signature: bytes
) -> bool:
    """Whether ``signature`` by ``key`` covers a receipt ``body`` as its stated ``algorithm``
    says (a key of another algorithm than the receipt states never does)."""
    key_algorithm, signed = signed_part(algorithm, body)
    return key_algorithm == key.algorithm and key.verify(signed, signature)


def new_receipt_id(at: datetime) -> str:
    """``R`` + the instant (China time) + 64 random bits: sorts by time, cannot be guessed."""
    return time_ordered_id("R", at)


@dataclass(frozen=True)
class Receipt:
    """A signed receipt as stored."""

    receipt_id: str
    issued_at: datetime
    requester_code: str
    verdict: Verdict | None  # None for a batch receipt (one verdict per item in the body)
    licence_id: str
    content_sha256: str
    body: bytes  # canonical JSON, exactly as made (its signature covers its digest)
    key_id: str
    algorithm: str  # what the signature covers (:func:`signed_part`): "Ed25519-SHA256"
    signature: bytes
    staff: str | None = None  # as the body states it: who the requester said acted


def receipt_body(
    receipt_id: str,
    at: datetime,
    requester_code: str,
    answers: list[dict[str, Any]],
    staff: str | None = None,
) -> bytes:
    """A receipt's canonical bytes: one entry per verification answered (and the staff
    member the requester named, if it named one)."""
    body: dict[str, Any] = {
        "receipt_id": receipt_id,
        "issued_at": at.isoformat(),
        "requester": requester_code,
        "answers": answers,
    }
    if staff:
        body["staff"] = staff
    # plain: built here from validated values and protobuf (valid UTF-8) strings
    return canonical_json(body, plain=True)


def receipt_body_of(
    receipt_id: str,
    at: datetime,
    requester_code: str,
    answers: list[bytes],
    staff: str | None = None,
    via: tuple[str, str] | None = None,
) -> bytes:
    """:func:`receipt_body` from answers already serialised as canonical JSON (the same bytes:
    the top-level keys in order around them; ``staff``, then ``via`` sort last). ``via``:
    (region, assertion SHA-256) of a question forwarded by a peer region (federation).

    The answers are joined as bytes: joined as text, one presented name (or any text beyond
    Latin-1) made the whole body two or four bytes a character to copy and then encode."""
    named = f',"staff":{_json_str(staff)}' if staff else ""
    if via:
        named += f',"via":{{"assertion_sha256":{_json_str(via[1])},"region":{_json_str(via[0])}}}'
    tail = (
        f'],"issued_at":{_json_str(at.isoformat())},"receipt_id":{_json_str(receipt_id)}'
        f',"requester":{_json_str(requester_code)}{named}}}'
    )
    return b'{"answers":[' + b",".join(answers) + tail.encode()


def unsigned_fields(receipt: Receipt) -> list[str]:
    """The fields a stored receipt states beside its signed body that the body does not say
    (empty for a receipt as it was made). The body has named its own receipt id since the
    first receipt, so a receipt row copied under another id is told apart by this alone; the
    other columns are checked where they are set (a batch receipt leaves them empty)."""
    try:
        body = json.loads(receipt.body)
        signed_at = datetime.fromisoformat(body["issued_at"])
        answers = body["answers"]
    except (ValueError, KeyError, TypeError):
        return ["body"]
    wrong = []
    if body.get("receipt_id") != receipt.receipt_id:
        wrong.append("receipt_id")
    if body.get("requester") != receipt.requester_code:
        wrong.append("requester_code")
    if body.get("staff") != receipt.staff:
        wrong.append("staff")
    if signed_at.tzinfo is None or signed_at != receipt.issued_at:
        wrong.append("issued_at")
    one = answers[0] if isinstance(answers, list) and len(answers) == 1 else {}
    said = {
        "verdict": receipt.verdict.value if receipt.verdict else "",
        "licence_id": receipt.licence_id,
        "content_sha256": receipt.content_sha256,
    }
    wrong += [name for name, value in said.items() if value and one.get(name) != value]
    return wrong


def receipt_entry(receipt: Receipt) -> Entry:
    """The tamper-evident log's entry for a receipt: the hash of its body and signature (the
    two fed in turn: a batch's body is hundreds of kilobytes, not copied to be joined)."""
    digest = hashlib.sha256(receipt.body)
    digest.update(receipt.signature)
    return Entry(KIND, receipt.receipt_id, digest.hexdigest())
