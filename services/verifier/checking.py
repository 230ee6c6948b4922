"""The full path of a verification: the verdict on one stored licence for what was presented,
at the instant asked (a past instant reads the licence's signed status chain: the newest
statement made by then names the version and the status). A status the chain does not vouch
for is CANNOT_CHECK (``StoredLicence.status_refusal``, checked by the reader).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common.clock import Clock
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.licence import Status
from services.licence_store.domain.status_chain import Refusal
from services.licence_store.domain.stored import StoredLicence
from services.licence_store.reader import LicenceReader
from services.verifier.domain.integrity import integrity_of
from services.verifier.domain.verdict import (
    STANDARD_CHECKS,
    HolderMatch,
    Integrity,
    attested,
    decide,
    name_match,
    not_found,
    number_match,
)
from services.verifier.results import Presented, Result
from services.verifier.vetting import SignatureMemo


class Checker:
    """Decides verdicts on stored licences (integrity from the signature memo)."""

    def __init__(self, reader: LicenceReader, clock: Clock, memo: SignatureMemo) -> None:
        self.reader = reader
        self.clock = clock
        self.memo = memo

    def integrity(self, stored: StoredLicence) -> Integrity:
        """Does the stored version still carry a good signature by a key valid at signing?"""
        return self.integrity_with(stored, self.reader.public_key(stored.signed.key_id))

    def integrity_with(self, stored: StoredLicence, key: SigningKeyRecord | None) -> Integrity:
        """:meth:`integrity`, with the issuer key record named by the version already read."""
        return integrity_of(stored, key, self.memo.check)

    def check(
        self, stored: StoredLicence | None, presented: Presented, asked: dict[str, Any]
    ) -> Result:
        """The verdict on ``stored`` (None: not in the store) for what was presented."""
        now = self.clock.now()
        at = presented.as_of or now
        base: dict[str, Any] = {
            "checked_at": now,
            "as_of": at,
            "asked": asked,
            "client_ref": presented.client_ref,
            "why": presented.why,
        }
        if stored is None:
            return Result(
                not_found(),
                HolderMatch.NOT_PRESENTED,
                HolderMatch.NOT_PRESENTED,
                checks=("existence",),
                **base,
            )
        if presented.as_of is not None:
            stored, status, refusal = self._as_of(stored, presented.as_of)
            if stored is None:
                return Result(
                    not_found("NOT_ISSUED_AT_THAT_TIME"),
                    HolderMatch.NOT_PRESENTED,
                    HolderMatch.NOT_PRESENTED,
                    checks=("existence",),
                    **base,
                )
        else:
            status, refusal = stored.licence.status, stored.status_refusal
        lic = stored.licence
        integrity = self.integrity(stored)
        type_name, issuer_name = self.reader.names(lic.type_code, lic.issuer_code)
        return Result(
            decision=attested(decide(integrity, status, lic.validity, at), refusal),
            number_match=number_match(presented.holder_number, lic.holder),
            name_match=name_match(presented.holder_name, lic.holder_name),
            checks=STANDARD_CHECKS + (("status_timeline",) if presented.as_of else ()),
            stored=stored,
            integrity=integrity,
            type_name=type_name,
            issuer_name=issuer_name,
            **base,
        )

    def _as_of(
        self, stored: StoredLicence, at: datetime
    ) -> tuple[StoredLicence | None, Status, str]:
        """The version current at ``at``, the status then, and why the signed status chain
        cannot vouch for them ("" when it does); no version when not issued then. Both come
        from the newest verified statement made by ``at``, never from the rows."""
        serial = stored.licence.serial
        then = self.reader.status_as_of(serial, at)
        if then.refusal is not None:
            return stored, stored.licence.status, then.reason
        if then.state is None:
            return None, Status.ACTIVE, ""
        version = self.reader.find_version(serial, then.state.version)
        if version is None or (version.signed.content_sha256, version.licence.validity) != (
            then.state.content_sha256,
            then.state.validity,
        ):
            return stored, then.state.status, Refusal.ROW_MISMATCH.value
        return version, then.state.status, ""
