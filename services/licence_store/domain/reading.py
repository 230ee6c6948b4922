"""What the licence store's reader takes and answers (see ``services.licence_store.reader``).

Plain values only, so that a reader in another process (another region's store, later) can
answer with the same types as the one in this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from services.licence_store.domain.licence import Status


@dataclass(frozen=True)
class LicenceRef:
    """Names a licence: by e-licence identifier (any version), or by type and number."""

    licence_id: str = ""
    type_code: str = ""
    licence_number: str = ""


class VersionFingerprint:
    """Stands for a licence version exactly as stored: signed content, sealed holder and
    signature. Two fingerprints are equal when and only when what was read is the same, so a
    reader of many licences can remember what it has checked about a version and trust the
    memory only while the stored version is unchanged. Opaque: what it is made of is the
    store's business (a change to the store's tables changes no caller)."""

    __slots__ = ("_parts",)

    def __init__(self, parts: object) -> None:
        self._parts = parts

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionFingerprint):
            return False
        mine, theirs = self._parts, other._parts
        if mine is theirs:
            return True
        if mine != theirs:
            return False
        # Equal, read apart (a row is read again at least every second): share one parts
        # object from now on, so the next comparisons of these two (the verifier's memo
        # against each chunk's read: every item) are by identity, not 17 columns by value.
        other._parts = mine
        return True

    def __hash__(self) -> int:
        return hash(self._parts)

    def __repr__(self) -> str:
        return "VersionFingerprint(...)"


class CurrentLicence(NamedTuple):
    """A licence at its current version, read for a batch: its state now, and a fingerprint
    of the version (open it with ``LicenceReader.open`` only when the fingerprint is new)."""

    serial: str
    status: Status
    status_reason_code: str
    key_id: str  # the key that signed the version
    fingerprint: VersionFingerprint
    handle: Any  # the reader's own means to open this version; opaque to callers
    status_refusal: str = ""  # "" when the signed status chain vouches for ``status``


@dataclass(frozen=True)
class CurrentReads:
    """A batch read: licences by serial, and the serial each (type code, number) named."""

    licences: dict[str, CurrentLicence] = field(default_factory=dict)
    serials_by_number: dict[tuple[str, str], str] = field(default_factory=dict)
