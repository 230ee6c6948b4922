"""The integrity rule: does a stored version still carry a good signature by a key that was
valid (and not compromised) when it was signed?

The signature check itself is passed in (the verifier remembers signatures it has checked),
so the rule stays plain: hash the canonical content, compare with the hash that was signed,
judge the key record, then ask about the signature.
"""

from __future__ import annotations

from collections.abc import Callable

from services.common.canonical import canonical_json, sha256_hex
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.stored import StoredLicence
from services.verifier.domain.verdict import Integrity

#: (issuer key record, content hash, content, signature) → does the signature verify?
SignatureCheck = Callable[[SigningKeyRecord, str, bytes, bytes], bool]


def integrity_of(
    stored: StoredLicence, key: SigningKeyRecord | None, signature_ok: SignatureCheck
) -> Integrity:
    """The integrity of ``stored`` under ``key``, the issuer key record its version names."""
    lic, signed = stored.licence, stored.signed
    content = canonical_json(lic.content(), plain=True)
    digest = sha256_hex(content)
    if digest != signed.content_sha256:
        return Integrity.CONTENT_ALTERED
    if key is None or key.department_code != lic.issuer_code:
        return Integrity.KEY_UNKNOWN
    if key.compromised_for(lic.version_at):
        return Integrity.KEY_COMPROMISED
    if not key.valid_at(lic.version_at):
        return Integrity.KEY_NOT_VALID_AT_SIGNING
    ok = signature_ok(key, digest, content, signed.signature)
    return Integrity.VERIFIED if ok else Integrity.SIGNATURE_INVALID
