"""What this process has already checked about stored licence versions.

Checking a stored version in full — open the sealed holder, rebuild the signed content as
canonical JSON, hash it, find the issuer's key, check the signature — costs far more than
deciding a verdict. A :class:`Vetted` remembers the outcome together with the row it was
reached from, exactly as read (every content column, compared whole), and the issuer key
record it used. It is reused only for a row equal to that one under an equal key record: an
edited row, a new version or a key marked compromised is checked in full again. The memo
lives in process memory, out of reach of anyone who can only edit the database.

Status and validity dates are not part of it: the verdict is decided from the status read
now and the dates at the instant asked, every time. Nor does it hold personal data in the
clear: the holder number and name are kept as keyed hashes, enough to answer MATCH/MISMATCH.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.licence import Validity
from services.licence_store.persistence.repository import StoredLicence
from services.verifier.domain.verdict import Integrity, normal_name

VETTED_MEMO_SIZE = 100_000


def name_key(vault: HolderVault, name: str) -> str:
    """A keyed hash of a holder name as compared (see :func:`normal_name`)."""
    return vault.mac(b"name:" + normal_name(name).encode())


@dataclass(frozen=True, eq=False, slots=True)
class Vetted:
    """A stored version checked in full, the row it was read from, and what answers need."""

    content: tuple[Any, ...]  # the row's content columns exactly as read
    key: SigningKeyRecord | None  # the issuer key record the check used
    integrity: Integrity
    licence_id: str
    type_code: str
    issuer_code: str
    licence_number: str
    version: int
    validity: Validity
    content_sha256: str
    key_id: str
    holder_kind: HolderKind
    holder_index: str  # blind index of the stored holder number
    holder_name_key: str  # name_key() of the stored holder name

    @classmethod
    def of(
        cls,
        content: tuple[Any, ...],
        stored: StoredLicence,
        key: SigningKeyRecord | None,
        integrity: Integrity,
        vault: HolderVault,
    ) -> Vetted:
        """The memo entry for ``stored`` (built from the row ``content``), checked under ``key``."""
        lic, signed = stored.licence, stored.signed
        return cls(
            content=content,
            key=key,
            integrity=integrity,
            licence_id=signed.licence_id,
            type_code=lic.type_code,
            issuer_code=lic.issuer_code,
            licence_number=lic.licence_number,
            version=lic.version,
            validity=lic.validity,
            content_sha256=signed.content_sha256,
            key_id=signed.key_id,
            holder_kind=lic.holder.kind,
            holder_index=vault.index(lic.holder),
            holder_name_key=name_key(vault, lic.holder_name),
        )

    def still_holds(self, content: tuple[Any, ...], key: SigningKeyRecord | None) -> bool:
        """Whether this outcome applies to a row read now under the key record read now."""
        return self.content == content and (self.key is key or self.key == key)


class VettedMemo:
    """Serial → :class:`Vetted`, bounded (the oldest quarter is dropped when full)."""

    def __init__(self, size: int = VETTED_MEMO_SIZE) -> None:
        self._size = size
        self._entries: dict[str, Vetted] = {}
        self._lock = threading.Lock()

    def get(self, serial: str) -> Vetted | None:
        """The entry for ``serial``, if any (check it with :meth:`Vetted.still_holds`)."""
        return self._entries.get(serial)

    def put(self, serial: str, vetted: Vetted) -> None:
        """Remember ``vetted`` for ``serial`` (replacing what was there)."""
        with self._lock:
            self._entries.pop(serial, None)
            self._entries[serial] = vetted
            excess = len(self._entries) - self._size
            if excess > 0:
                for old in list(itertools.islice(self._entries, excess + self._size // 4)):
                    del self._entries[old]

    def __len__(self) -> int:
        return len(self._entries)
