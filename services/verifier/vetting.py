"""What this process has already checked about stored licence versions.

Checking a stored version in full — open the sealed holder, rebuild the signed content as
canonical JSON, hash it, find the issuer's key, check the signature — costs far more than
deciding a verdict. A :class:`Vetted` remembers the outcome together with the version it was
reached from (the licence store's fingerprint of the version as read: equal only for the
same stored content, holder and signature) and the issuer key record it used. It is reused
only for a version read with an equal fingerprint under an equal key record: an edited row,
a new version or a key marked compromised is checked in full again. The memo
lives in process memory, out of reach of anyone who can only edit the database.

Status and validity dates are not part of it: the verdict is decided from the status read
now and the dates at the instant asked, every time. Nor does it hold personal data in the
clear: the holder number and name are kept as keyed hashes, enough to answer MATCH/MISMATCH.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass

from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind
from services.common.signing import PublicKey
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.licence import Validity
from services.licence_store.domain.reading import VersionFingerprint
from services.licence_store.domain.stored import StoredLicence
from services.verifier.domain.verdict import Integrity, normal_name

VETTED_MEMO_SIZE = 100_000
SIGNATURE_MEMO_SIZE = 200_000


def name_key(vault: HolderVault, name: str) -> str:
    """A keyed hash of a holder name as compared (see :func:`normal_name`)."""
    return vault.mac(b"name:" + normal_name(name).encode())


@dataclass(frozen=True, eq=False, slots=True)
class Vetted:
    """A stored version checked in full, the row it was read from, and what answers need."""

    fingerprint: VersionFingerprint  # the stored version as read, as the store fingerprints it
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
        fingerprint: VersionFingerprint,
        stored: StoredLicence,
        key: SigningKeyRecord | None,
        integrity: Integrity,
        vault: HolderVault,
    ) -> Vetted:
        """The memo entry for ``stored`` (read with ``fingerprint``), checked under ``key``."""
        lic, signed = stored.licence, stored.signed
        return cls(
            fingerprint=fingerprint,
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

    def still_holds(self, fingerprint: VersionFingerprint, key: SigningKeyRecord | None) -> bool:
        """Whether this outcome applies to a version read now under the key record read now."""
        return self.fingerprint == fingerprint and (self.key is key or self.key == key)


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


class SignatureMemo:
    """Versions whose signature this process has verified, keyed by what was verified.

    The key includes the hash of the content as read now, so a row edited in the database
    misses the memo and fails verification; the memo lives in process memory, out of reach of
    anyone who can only edit the database.
    """

    def __init__(self, size: int = SIGNATURE_MEMO_SIZE) -> None:
        self._size = size
        self._seen: OrderedDict[tuple[str, bytes, bytes], bool] = OrderedDict()
        self._lock = threading.Lock()

    def check(
        self, key_record: SigningKeyRecord, digest: str, content: bytes, signature: bytes
    ) -> bool:
        """Whether ``signature`` over ``content`` (whose hash is ``digest``) verifies under
        ``key_record`` (remembered)."""
        key = (digest, key_record.public_key, signature)
        with self._lock:
            if key in self._seen:
                return self._seen[key]
        public = PublicKey(key_record.key_id, key_record.algorithm, key_record.public_key)
        ok = public.verify(content, signature)
        with self._lock:
            self._seen[key] = ok
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return ok
