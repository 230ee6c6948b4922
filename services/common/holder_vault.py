"""Holder numbers and other personal values at rest.

A copy of the database alone must reveal no citizen ID number. Every holder number — a
person's or an organisation's, through the same code path — is stored twice:

* a **blind index**: HMAC-SHA256 under the index key, for lookups ("this holder's licences");
* a **sealed value**: AES-256-GCM under the current master key, bound to the row it belongs
  to, for display to those entitled to it.

A licence's sealed holder value also carries a random **salt** that is part of the signed
content: without it, the stored content hashes (and signatures) would let anyone holding the
database guess a number by trying the few billion plausible ones against them.

Request fingerprints (idempotency) are keyed hashes for the same reason. Sealing keys rotate
(:meth:`needs_reseal`, and the re-sealing job); the index key does not.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from services.common.identifiers import HolderKind, HolderNumber
from services.common.sealing import Sealer

SALT_BYTES = 16


@dataclass(frozen=True)
class SealedHolder:
    """A holder number as stored: its blind index and its sealed value."""

    index: str
    sealed: bytes


def _hmac_pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC-SHA256's inner and outer hashes with ``key``'s pads already absorbed (RFC 2104:
    a key longer than the block is hashed first, then zero-padded to the block, then XORed
    with 0x36 and 0x5c). :meth:`HolderVault.mac` copies each and finishes them, which is
    HMAC-SHA256 by construction (tested equal to :func:`hmac.new`) at half the CPU of copying
    an OpenSSL HMAC state (0.78 against 1.49 µs a hash, ``timeit``): the batch path makes
    one for each holder number and each name presented."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def new_salt() -> str:
    """A fresh content salt (hex)."""
    return secrets.token_hex(SALT_BYTES)


class HolderVault:
    """Blind indexes, sealing and keyed fingerprints over the master key ring."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        self._index_key = sealer.index_key
        self._inner, self._outer = _hmac_pads(self._index_key)

    @property
    def sealer(self) -> Sealer:
        """The master key ring (migrations that sign with departments' sealed keys need it)."""
        return self._sealer

    def index(self, holder: HolderNumber) -> str:
        """The blind index of a holder number (the kind is part of it)."""
        return self.mac(f"{holder.kind.value}:{holder.value}".encode())

    def mac(self, data: bytes) -> str:
        """A keyed hash (hex): for lookups and fingerprints that must not be guessable."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def seal_holder(self, holder: HolderNumber, salt: str, bound_to: str) -> SealedHolder:
        """Index and seal ``holder`` (with its content ``salt``) for the row ``bound_to``."""
        body = json.dumps({"n": holder.value, "s": salt}).encode()
        return SealedHolder(self.index(holder), self._sealer.seal(body, _aad("holder", bound_to)))

    def open_holder(
        self, kind: HolderKind, sealed: bytes, bound_to: str
    ) -> tuple[HolderNumber, str]:
        """(holder number, salt) from a sealed value (fails loudly if it was moved or edited)."""
        data = json.loads(self._sealer.open(sealed, _aad("holder", bound_to)))
        return HolderNumber(kind, str(data["n"])), str(data.get("s", ""))

    def seal_values(self, values: dict[str, object], bound_to: str) -> bytes | None:
        """Seal sensitive values (None when there are none)."""
        if not values:
            return None
        body = json.dumps(values, ensure_ascii=False, sort_keys=True).encode()
        return self._sealer.seal(body, _aad("values", bound_to))

    def open_values(self, sealed: bytes | None, bound_to: str) -> dict[str, object]:
        """The sealed values of a row ({} when it has none)."""
        if not sealed:
            return {}
        data: dict[str, object] = json.loads(self._sealer.open(sealed, _aad("values", bound_to)))
        return data

    def needs_reseal(self, sealed: bytes) -> bool:
        """Whether a value was sealed under a key other than the current one."""
        return self._sealer.needs_reseal(sealed)

    def reseal(self, sealed: bytes, what: str, bound_to: str) -> bytes:
        """The same value sealed under the current key."""
        aad = _aad(what, bound_to)
        return self._sealer.seal(self._sealer.open(sealed, aad), aad)


def _aad(what: str, bound_to: str) -> bytes:
    return f"yihao:{what}:{bound_to}".encode()
