"""Presented documents: a licence version's signed canonical JSON, and compact QR payloads.

Pure functions, so that ``yihao verify-document --offline`` applies exactly the checks the
server applies, with public keys from a file instead of the store.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.canonical import canonical_json, sha256_hex
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.verifier.domain.verdict import Integrity

QR_PREFIX = "YH1"
REQUIRED_KEYS = ("licence_id", "issuer_code", "version", "version_at", "holder", "fields")

KeyLookup = Callable[[str], SigningKeyRecord | None]
#: Whether a signature over the given bytes holds under the given key (cryptography lives
#: outside the domain: :func:`services.common.signing.signature_holds`).
SignatureCheck = Callable[[SigningKeyRecord, bytes, bytes], bool]


@dataclass(frozen=True)
class DocumentCheck:
    """Whether a presented document is authentic, and what it says."""

    integrity: Integrity
    content: dict[str, Any]
    content_sha256: str

    @property
    def authentic(self) -> bool:
        return self.integrity is Integrity.VERIFIED


def _parse(content_json: str) -> dict[str, Any] | None:
    try:
        content = json.loads(content_json)
    except (ValueError, RecursionError):
        return None
    if not isinstance(content, dict) or any(k not in content for k in REQUIRED_KEYS):
        return None
    return content


def check_document(
    content_json: str, key_id: str, signature: bytes, keys: KeyLookup, *, verify: SignatureCheck
) -> DocumentCheck:
    """Check a signed licence document against the issuers' public keys."""
    content = _parse(content_json)
    if content is None:
        return DocumentCheck(Integrity.SIGNATURE_INVALID, {}, "")
    try:
        body = canonical_json(content)
        signed_at = datetime.fromisoformat(str(content["version_at"]))
    except (ValueError, TypeError, Exception):
        return DocumentCheck(Integrity.SIGNATURE_INVALID, content, "")
    if signed_at.tzinfo is None:  # every signed version_at carries its offset
        return DocumentCheck(Integrity.SIGNATURE_INVALID, content, "")
    digest = sha256_hex(body)
    key = keys(key_id)
    if key is None or key.department_code != content["issuer_code"]:
        return DocumentCheck(Integrity.KEY_UNKNOWN, content, digest)
    if key.compromised_for(signed_at):
        return DocumentCheck(Integrity.KEY_COMPROMISED, content, digest)
    if not key.valid_at(signed_at):
        return DocumentCheck(Integrity.KEY_NOT_VALID_AT_SIGNING, content, digest)
    ok = verify(key, body, signature)
    return DocumentCheck(Integrity.VERIFIED if ok else Integrity.SIGNATURE_INVALID, content, digest)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_qr(body: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """``YH1.<body>.<signature>``: the body is canonical JSON, both base64url."""
    raw = canonical_json(body)
    return f"{QR_PREFIX}.{_b64(raw)}.{_b64(sign(raw))}"


@dataclass(frozen=True)
class QrCheck:
    """A decoded QR payload and whether its signature holds."""

    valid_signature: bool
    body: dict[str, Any]
    key_id: str


def decode_qr(payload: str, verify: Callable[[str, bytes, bytes], bool]) -> QrCheck | None:
    """Decode a QR payload; None when it is not one at all."""
    parts = payload.strip().split(".")
    if len(parts) != 3 or parts[0] != QR_PREFIX or len(payload) > 2048:
        return None
    try:
        raw, signature = _unb64(parts[1]), _unb64(parts[2])
        body = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("k"), str):
        return None
    return QrCheck(verify(body["k"], raw, signature), body, body["k"])
