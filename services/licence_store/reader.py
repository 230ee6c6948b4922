"""The licence store's read interface: how the verifier and assistance read licences.

Only the licence store writes licences; the other services depend on this protocol and on
the store's domain types (``services.licence_store.domain``), nothing else of it. Everything
that crosses it is a plain value (no sessions, rows or SQLAlchemy objects), and the batch
read takes many references at once, so the same shape suits the reader in this process
(:class:`~services.licence_store.local_reader.LocalReader`) and one that asks another
region's store over the network.

Seams kept here on purpose:

- *Status.* ``CurrentLicence.status`` and ``StoredLicence.licence.status`` are the state the
  rows claim, answered only together with ``status_refusal``: "" when the licence's signed
  status chain (an issuer-signed, chained statement per lifecycle act) verified and attests
  exactly that state, else the ``STATUS_*`` reason it does not. The chain is checked behind
  this interface, so a remote reader answers the same way.
- *Who may read what.* Reads do not yet name the caller; object-level read rules will add
  the caller to these methods, here and in the implementations, not in the callers' SQL.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.common.errors import InvalidArgument
from services.common.identifiers import HolderNumber
from services.licence_store.domain.catalogue import Department, LicenceType, SigningKeyRecord
from services.licence_store.domain.consent import ConsentPass, Matter
from services.licence_store.domain.grants import GrantKey, ReadGrant
from services.licence_store.domain.licence import Status
from services.licence_store.domain.reading import CurrentLicence, CurrentReads, LicenceRef
from services.licence_store.domain.status_chain import StatusDecision
from services.licence_store.domain.stored import StoredLicence


def ref_in(msg: Any) -> LicenceRef:
    """The licence a request names (a ``yihao.v1.LicenceRef``: by e-licence identifier, or by
    type and number), as the readers take it; INVALID_ARGUMENT naming ``licence`` if neither."""
    which = msg.WhichOneof("ref")
    if which == "licence_id":
        return LicenceRef(licence_id=msg.licence_id)
    if which == "type_and_number":
        tn = msg.type_and_number
        return LicenceRef(type_code=tn.type_code, licence_number=tn.licence_number)
    raise InvalidArgument.field(
        "licence", "name a licence by licence_id or by type_and_number", "REQUIRED"
    )


class LicenceReader(Protocol):
    """Read licences, and the catalogue facts needed to judge them."""

    # ------------------------------------------------------------------------- licences

    def find(self, ref: LicenceRef) -> StoredLicence | None:
        """The licence ``ref`` names, at its current version; None when there is none (a
        malformed identifier is INVALID_ARGUMENT naming ``licence.licence_id``)."""
        ...

    def find_version(self, serial: str, version: int) -> StoredLicence | None:
        """One version of a licence."""
        ...

    def versions_of(self, serial: str) -> list[StoredLicence]:
        """Every version of a licence, oldest first."""
        ...

    def status_as_of(self, serial: str, at: datetime) -> StatusDecision:
        """The licence's state (version, content hash, status, validity) at instant ``at``
        from its verified status chain, or why the chain cannot vouch for it."""
        ...

    def status_chain(self, serial: str) -> list[tuple[bytes, bytes]]:
        """A licence's status statements as stored — (signed bytes, signature), in sequence
        order, unverified (for checkers outside the process: the audit monitor)."""
        ...

    def status_timeline(self, serial: str) -> list[tuple[datetime, Status]]:
        """(instant, status after) for every lifecycle event of a licence, oldest first."""
        ...

    def holder_licences(
        self, holder: HolderNumber, type_codes: Sequence[str], limit: int = 500
    ) -> list[StoredLicence]:
        """A holder's licences of the given types (all types when empty)."""
        ...

    def read_current(
        self, serials: Collection[str], numbers: Collection[tuple[str, str]] = ()
    ) -> CurrentReads:
        """Many licences at once, by serial and by (validated type code, licence number):
        each one's status now and a fingerprint of its current version."""
        ...

    def open(self, current: CurrentLicence) -> StoredLicence:
        """The full version behind a :meth:`read_current` answer (sealed parts opened)."""
        ...

    # ------------------------------------------------------------------------ catalogue

    def public_key(self, key_id: str) -> SigningKeyRecord | None:
        """An issuing department's public signing key by id (with its validity and any
        compromise mark)."""
        ...

    def licence_type(self, code: str) -> LicenceType:
        """A licence type by code (INVALID_ARGUMENT naming ``type_code`` if malformed,
        NOT_FOUND if not in the catalogue)."""
        ...

    def department(self, code: str) -> Department | None:
        """A registered department (recently cached), or None."""
        ...

    def read_grants(self) -> dict[GrantKey, ReadGrant]:
        """Every read grant (who may read what of a licence type, for which purposes), keyed
        by (department or ``*``, licence type)."""
        ...

    def names(self, type_code: str, issuer_code: str) -> tuple[str, str]:
        """(licence type name, issuer name) from the catalogue ("" where unknown)."""
        ...

    def issuer_keys(self, codes: Sequence[str]) -> list[Department]:
        """Departments with all their signing keys, read now (every department when
        ``codes`` is empty; NOT_FOUND for an unknown code)."""
        ...


class ConsentChecker(Protocol):
    """The holder's consent to reads by holder number (see
    :class:`~services.licence_store.consent_gate.ConsentGate`)."""

    def authorise(
        self,
        caller_code: str,
        holder: HolderNumber,
        asked: Sequence[str] | None,
        matter: Matter,
        grant_id: str,
        *,
        channel: str,
        strict: bool | None = None,
        item_consent: bool = False,
    ) -> ConsentPass:
        """What the read may include (raises PERMISSION_DENIED CONSENT_REQUIRED when a type
        the caller named needs a grant that does not authorise it), decided before reading."""
        ...

    def used(self, passed: ConsentPass, caller_code: str, channel: str, what: str) -> None:
        """Record a use of the grant ``passed`` carries."""
        ...

    def lookup_allowed(self, caller_code: str, holder: HolderNumber) -> None:
        """Before a lookup by a holder's number: RESOURCE_EXHAUSTED when the department has
        spent today's lookups that find nothing."""
        ...

    def looked_up(self, caller_code: str, holder: HolderNumber, found: bool) -> None:
        """After a lookup by a holder's number: whether it found anything (misses count)."""
        ...
