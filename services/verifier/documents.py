"""Signed documents and QR payloads: export them, and verify what an applicant presents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.common.clock import Clock
from services.common.errors import InvalidArgument, NotFound
from services.common.identity import Caller
from services.common.licence_ids import parse_licence_identifier
from services.common.roles import Role
from services.common.signing import PublicKey, canonical_json, signature_holds
from services.licence_store.domain.reading import LicenceRef
from services.licence_store.domain.stored import StoredLicence
from services.licence_store.reader import LicenceReader
from services.verifier.checking import Checker
from services.verifier.domain.document import DocumentCheck, check_document, decode_qr, encode_qr
from services.verifier.domain.verdict import Decision, HolderMatch, Verdict
from services.verifier.keys import ServiceKeys
from services.verifier.receipts import ReceiptSealer
from services.verifier.results import Presented, Result

QR_DEFAULT_TTL = 300
QR_MAX_TTL = 3600


class Documents:
    """Exports signed documents and QR payloads, and verifies presented ones."""

    def __init__(
        self,
        reader: LicenceReader,
        checker: Checker,
        receipts: ReceiptSealer,
        qr_keys: ServiceKeys,
        clock: Clock,
    ) -> None:
        self.reader = reader
        self.checker = checker
        self.receipts = receipts
        self.qr_keys = qr_keys
        self.clock = clock

    def exportable(self, caller: Caller, ref: LicenceRef) -> StoredLicence:
        """The licence ``ref`` names, if ``caller`` may export it: its issuer, or a holder
        portal (which serves holders their own licences). A document carries the holder's
        number and every field, sensitive ones included, so for anyone else the answer is the
        one for a licence that does not exist: no oracle of which licences exist."""
        stored = self.reader.find(ref)
        if stored is None or not self._may_export(caller, stored):
            raise NotFound("no such licence", reason="LICENCE_NOT_FOUND")
        return stored

    def _may_export(self, caller: Caller, stored: StoredLicence) -> bool:
        if caller.code == stored.licence.issuer_code:
            return True
        dept = self.reader.department(caller.code)
        return dept is not None and dept.has_role(Role.HOLDER_PORTAL)

    def export(self, caller: Caller, ref: LicenceRef, version: int) -> tuple[str, StoredLicence]:
        """(canonical JSON, stored version) of a licence version, exactly as its issuer signed
        it (issuer and holder portals only, see :meth:`exportable`).

        The document keeps the content salt: the signature covers it, so without it no one
        could check the document offline. The salt keeps the *published* content hashes
        (receipts, log leaves, verification answers) from being tested against guessed holder
        numbers and fields by someone who lacks the content; a document's reader has this
        version's content in clear already. It opens no sealed value (those are AES-GCM under
        the master keys)."""
        stored = self.exportable(caller, ref)
        if version:
            found = self.reader.find_version(stored.licence.serial, version)
            if found is None:
                raise NotFound(f"licence has no version {version}", reason="VERSION_NOT_FOUND")
            stored = found
        return canonical_json(stored.licence.content()).decode(), stored

    def issue_qr(self, caller: Caller, ref: LicenceRef, ttl: int) -> tuple[str, datetime]:
        """A signed, expiring QR payload naming the licence's current version (issuer and
        holder portals only, see :meth:`exportable`)."""
        ttl = ttl or QR_DEFAULT_TTL
        if not 30 <= ttl <= QR_MAX_TTL:
            raise InvalidArgument.field(
                "ttl_seconds", f"must be between 30 and {QR_MAX_TTL}", "OUT_OF_RANGE"
            )
        stored = self.exportable(caller, ref)
        expires = self.clock.now() + timedelta(seconds=ttl)
        key = self.qr_keys.signing_key()
        body = {
            "k": key.key_id,
            "lid": stored.signed.licence_id,
            "h": stored.signed.content_sha256[:32],
            "exp": int(expires.timestamp()),
        }
        return encode_qr(body, key.sign), expires

    def verify_signed_document(
        self,
        caller: Caller,
        content_json: str,
        key_id: str,
        signature: bytes,
        presented: Presented,
    ) -> Result:
        """Integrity of the presented document, the issuer's key at signing, current status."""
        if len(content_json) > 256 * 1024:
            raise InvalidArgument.field(
                "signed_document.content_json", "at most 256 KiB", "TOO_LONG"
            )
        doc = check_document(
            content_json, key_id, signature, self.reader.public_key, verify=signature_holds
        )
        asked = {"document_sha256": doc.content_sha256, "key_id": key_id}
        if not doc.authentic:
            return self.receipts.record(caller, [self._unverifiable(doc, presented, asked)])[0]
        result = self._current(str(doc.content["licence_id"]), presented, asked)
        result = _compare_with_store(result, doc)
        return self.receipts.record(caller, [replace(result, document_authentic=True)])[0]

    def verify_qr(self, caller: Caller, payload: str, presented: Presented) -> Result:
        """Check a QR payload's signature and expiry, then the licence it names."""
        qr = decode_qr(payload, self._qr_verifier())
        if qr is None:
            raise InvalidArgument.field("qr_payload", "is not a Yihao QR payload", "FORMAT")
        asked = {"qr_key_id": qr.key_id, "licence_id": str(qr.body.get("lid", ""))}
        now = self.clock.now()
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
            return self.receipts.record(caller, [result])[0]
        result = self._current(str(qr.body["lid"]), presented, asked)
        if result.stored and not result.stored.signed.content_sha256.startswith(
            str(qr.body.get("h"))
        ):
            result = replace(
                result,
                decision=Decision(
                    result.decision.verdict, f"{result.decision.reason}:QR_NAMES_OLDER_VERSION"
                ),
            )
        return self.receipts.record(caller, [replace(result, document_authentic=True)])[0]

    def _qr_verifier(self) -> Callable[[str, bytes, bytes], bool]:
        def verify(key_id: str, raw: bytes, signature: bytes) -> bool:
            key = self.qr_keys.public(key_id)
            return key is not None and PublicKey(key.key_id, key.algorithm, key.public_key).verify(
                raw, signature
            )

        return verify

    def _current(self, licence_id: str, presented: Presented, asked: dict[str, Any]) -> Result:
        try:
            parse_licence_identifier(licence_id, "document.licence_id")
        except InvalidArgument:
            return self.checker.check(None, presented, asked)
        return self.checker.check(
            self.reader.find(LicenceRef(licence_id=licence_id)), presented, asked
        )

    def _unverifiable(
        self, doc: DocumentCheck, presented: Presented, asked: dict[str, Any]
    ) -> Result:
        now = self.clock.now()
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


def _compare_with_store(result: Result, doc: DocumentCheck) -> Result:
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
