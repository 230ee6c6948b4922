"""Signed documents and QR payloads: export them, and verify what an applicant presents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.common.errors import InvalidArgument, NotFound
from services.common.identifiers import parse_licence_identifier
from services.common.identity import Caller
from services.common.roles import Role
from services.common.signing import PublicKey, canonical_json, signature_holds
from services.licence_store.persistence.repository import StoredLicence
from services.licence_store.service import LicenceRef
from services.verifier.domain.document import DocumentCheck, check_document, decode_qr, encode_qr
from services.verifier.domain.verdict import Decision, HolderMatch, Verdict
from services.verifier.service import Presented, Result, VerifierService

QR_DEFAULT_TTL = 300
QR_MAX_TTL = 3600


def exportable(verifier: VerifierService, caller: Caller, ref: LicenceRef) -> StoredLicence:
    """The licence ``ref`` names, if ``caller`` may export it: its issuer, or a holder portal
    (which serves holders their own licences). A document carries the holder's number and
    every field, sensitive ones included, so for anyone else the answer is the one for a
    licence that does not exist: no oracle of which licences exist."""
    stored = verifier.store.find(ref)
    if stored is None or not _may_export(verifier, caller, stored):
        raise NotFound("no such licence", reason="LICENCE_NOT_FOUND")
    return stored


def _may_export(verifier: VerifierService, caller: Caller, stored: StoredLicence) -> bool:
    if caller.code == stored.licence.issuer_code:
        return True
    dept = verifier.store.catalogue.department(caller.code)
    return dept is not None and dept.has_role(Role.HOLDER_PORTAL)


def export_document(
    verifier: VerifierService, caller: Caller, ref: LicenceRef, version: int
) -> tuple[str, StoredLicence]:
    """(canonical JSON, stored version) of a licence version, exactly as its issuer signed it
    (issuer and holder portals only, see :func:`exportable`).

    The document keeps the content salt: the signature covers it, so without it no one could
    check the document offline. The salt keeps the *published* content hashes (receipts, log
    leaves, verification answers) from being tested against guessed holder numbers and
    fields by someone who lacks the content; a document's reader has this version's content
    in clear already. It opens no sealed value (those are AES-GCM under the master keys)."""
    stored = exportable(verifier, caller, ref)
    if version:
        found = verifier.store.find_version(stored.licence.serial, version)
        if found is None:
            raise NotFound(f"licence has no version {version}", reason="VERSION_NOT_FOUND")
        stored = found
    return canonical_json(stored.licence.content()).decode(), stored


def issue_qr(
    verifier: VerifierService, caller: Caller, ref: LicenceRef, ttl: int
) -> tuple[str, datetime]:
    """A signed, expiring QR payload naming the licence's current version (issuer and holder
    portals only, see :func:`exportable`)."""
    ttl = ttl or QR_DEFAULT_TTL
    if not 30 <= ttl <= QR_MAX_TTL:
        raise InvalidArgument.field(
            "ttl_seconds", f"must be between 30 and {QR_MAX_TTL}", "OUT_OF_RANGE"
        )
    stored = exportable(verifier, caller, ref)
    expires = verifier.clock.now() + timedelta(seconds=ttl)
    key = verifier.qr_keys.signing_key()
    body = {
        "k": key.key_id,
        "lid": stored.signed.licence_id,
        "h": stored.signed.content_sha256[:32],
        "exp": int(expires.timestamp()),
    }
    return encode_qr(body, key.sign), expires


def verify_signed_document(
    verifier: VerifierService,
    caller: Caller,
    content_json: str,
    key_id: str,
    signature: bytes,
    presented: Presented,
) -> Result:
    """Integrity of the presented document, the issuer's key at signing, current status."""
    if len(content_json) > 256 * 1024:
        raise InvalidArgument.field("signed_document.content_json", "at most 256 KiB", "TOO_LONG")
    doc = check_document(
        content_json, key_id, signature, verifier.store.public_key, verify=signature_holds
    )
    asked = {"document_sha256": doc.content_sha256, "key_id": key_id}
    if not doc.authentic:
        return verifier.record_receipt(caller, [_unverifiable(verifier, doc, presented, asked)])[0]
    result = _current(verifier, str(doc.content["licence_id"]), presented, asked)
    result = _compare_with_store(verifier, result, doc)
    return verifier.record_receipt(caller, [replace(result, document_authentic=True)])[0]


def verify_qr(
    verifier: VerifierService, caller: Caller, payload: str, presented: Presented
) -> Result:
    """Check a QR payload's signature and expiry, then the licence it names."""
    qr = decode_qr(payload, _qr_verifier(verifier))
    if qr is None:
        raise InvalidArgument.field("qr_payload", "is not a Yihao QR payload", "FORMAT")
    asked = {"qr_key_id": qr.key_id, "licence_id": str(qr.body.get("lid", ""))}
    now = verifier.clock.now()
    if not qr.valid_signature:
        reason = "QR_SIGNATURE_INVALID"
    elif not isinstance(qr.body.get("exp"), int) or qr.body["exp"] < now.timestamp():
        reason = "QR_EXPIRED"
    else:
        reason = ""
    if reason:
        result = Result(
            Decision(Verdict.CANNOT_CHECK, reason),
            HolderMatch.NOT_PRESENTED,
            HolderMatch.NOT_PRESENTED,
            now,
            now,
            ("qr_signature", "qr_expiry"),
            asked=asked,
        )
        return verifier.record_receipt(caller, [result])[0]
    result = _current(verifier, str(qr.body["lid"]), presented, asked)
    if result.stored and not result.stored.signed.content_sha256.startswith(str(qr.body.get("h"))):
        result = replace(
            result,
            decision=Decision(
                result.decision.verdict, f"{result.decision.reason}:QR_NAMES_OLDER_VERSION"
            ),
        )
    return verifier.record_receipt(caller, [replace(result, document_authentic=True)])[0]


def _qr_verifier(verifier: VerifierService) -> Callable[[str, bytes, bytes], bool]:
    def verify(key_id: str, raw: bytes, signature: bytes) -> bool:
        key = verifier.qr_keys.public(key_id)
        return key is not None and PublicKey(key.key_id, key.algorithm, key.public_key).verify(
            raw, signature
        )

    return verify


def _current(
    verifier: VerifierService, licence_id: str, presented: Presented, asked: dict[str, Any]
) -> Result:
    try:
        parse_licence_identifier(licence_id, "document.licence_id")
    except InvalidArgument:
        return verifier.check(None, presented, asked)
    return verifier.check(verifier.store.find(LicenceRef(licence_id=licence_id)), presented, asked)


def _compare_with_store(verifier: VerifierService, result: Result, doc: DocumentCheck) -> Result:
    """An authentic document of an older version is reported as such."""
    stored = result.stored
    if stored is None or result.decision.verdict is Verdict.CANNOT_CHECK:
        return result
    version = int(doc.content.get("version", 0))
    if version == stored.licence.version:
        if doc.content_sha256 != stored.signed.content_sha256:
            return replace(
                result, decision=Decision(Verdict.CANNOT_CHECK, "DOCUMENT_DIFFERS_FROM_STORE")
            )
        return result
    reason = f"{result.decision.reason}:DOCUMENT_VERSION_SUPERSEDED"
    return replace(result, decision=Decision(result.decision.verdict, reason))


def _unverifiable(
    verifier: VerifierService, doc: DocumentCheck, presented: Presented, asked: dict[str, Any]
) -> Result:
    now = verifier.clock.now()
    return Result(
        Decision(Verdict.CANNOT_CHECK, doc.integrity.value),
        HolderMatch.NOT_PRESENTED,
        HolderMatch.NOT_PRESENTED,
        now,
        now,
        ("document_signature", "issuer_key_period"),
        asked=asked,
        integrity=doc.integrity,
        document_authentic=False,
    )
