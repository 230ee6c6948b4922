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
import hmac
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


def new_salt() -> str:
    """A fresh content salt (hex)."""
    return secrets.token_hex(SALT_BYTES)


class HolderVault:
    """Blind indexes, sealing and keyed fingerprints over the master key ring."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer
        self._index_key = sealer.index_key
        # The key's HMAC state, set up once and copied for each hash (a third less CPU than
        # hmac.new per hash; the batch path makes one for each holder number presented).
        self._keyed = hmac.new(self._index_key, digestmod=hashlib.sha256)

    @property
    def sealer(self) -> Sealer:
        """The master key ring (migrations that sign with departments' sealed keys need it)."""
        return self._sealer

    def index(self, holder: HolderNumber) -> str:
        """The blind index of a holder number (the kind is part of it)."""
        return self.mac(f"{holder.kind.value}:{holder.value}".encode())

    def mac(self, data: bytes) -> str:
        """A keyed hash (hex): for lookups and fingerprints that must not be guessable."""
        h = self._keyed.copy()
        h.update(data)
        return h.hexdigest()

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
