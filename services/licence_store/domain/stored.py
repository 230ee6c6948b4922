"""Licences and events as the store keeps them: the domain's view of what was read back.

These are the values that leave the licence store (to its own transport, and through the
:class:`~services.licence_store.reader.LicenceReader` to the verifier and assistance): plain
frozen objects, no database rows or sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.licence_ids import mint_licence_identifier
from services.licence_store.domain.licence import Event, Licence


@dataclass(frozen=True)
class SignedVersion:
    """How one licence version was signed."""

    licence_id: str
    key_id: str
    algorithm: str
    signature: bytes
    content_sha256: str


@dataclass(frozen=True)
class StoredLicence:
    """A licence as read back: the domain object and its current version's signature.

    ``status_refusal`` is set by the reader's reads that verdicts are decided from: "" when
    the licence's signed status chain verified and attests exactly the state read (status,
    version, content, validity), else the ``STATUS_*`` reason it does not (its status cannot
    be vouched for: the verdict is CANNOT_CHECK)."""

    licence: Licence
    signed: SignedVersion
    status_refusal: str = ""


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored, with its cursor."""

    cursor: int
    serial: str
    type_code: str
    issuer_code: str
    event: Event

    @property
    def licence_id(self) -> str:
        """The e-licence identifier of the version the event left the licence at."""
        ident = mint_licence_identifier(
            self.type_code, self.issuer_code, self.serial, self.event.version
        )
        return str(ident)
