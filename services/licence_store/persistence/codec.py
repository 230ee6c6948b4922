"""How a licence's personal data is written to and read from its rows.

The holder number becomes a blind index plus a sealed value (with the content salt), bound to
the licence's serial; fields the licence type marks sensitive are sealed, bound to the serial
and version. A sealed value that does not open (edited, or moved from another row) is read
back as missing, so the version's content no longer hashes to what was signed and the
licence is never VALID — the read itself does not fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.common.errors import Internal
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, HolderNumber
from services.licence_store.domain.licence import FieldValue, Licence

log = logging.getLogger(__name__)


class LicenceCodec:
    """Licence ↔ row columns for the personal parts (holder number, sensitive fields)."""

    def __init__(self, vault: HolderVault, sensitive_of: Callable[[str], frozenset[str]]) -> None:
        self.vault = vault
        self._sensitive_of = sensitive_of

    def holder_index(self, holder: HolderNumber) -> str:
        """The blind index used to find a holder's licences."""
        return self.vault.index(holder)

    def holder_columns(self, lic: Licence) -> dict[str, Any]:
        """``holder_index`` and ``holder_sealed`` for the licences row."""
        sealed = self.vault.seal_holder(lic.holder, lic.salt, lic.serial)
        return {"holder_index": sealed.index, "holder_sealed": sealed.sealed}

    def field_columns(self, lic: Licence) -> dict[str, Any]:
        """``fields`` (the clear ones) and ``sealed_fields`` for a licence_versions row."""
        sensitive = self._sensitive_of(lic.type_code)
        clear = {k: v for k, v in lic.fields.items() if k not in sensitive}
        secret: dict[str, object] = {k: v for k, v in lic.fields.items() if k in sensitive}
        return {
            "fields": clear,
            "sealed_fields": self.vault.seal_values(secret, f"{lic.serial}:{lic.version}"),
        }

    def holder(self, kind: str, sealed: bytes, serial: str) -> tuple[HolderNumber, str]:
        """(holder number, salt); an unreadable value reads as an empty number."""
        try:
            return self.vault.open_holder(HolderKind(kind), sealed, serial)
        except (Internal, ValueError, KeyError) as exc:
            log.error("licence %s: sealed holder does not open (%s)", serial, type(exc).__name__)
            return HolderNumber(HolderKind(kind), ""), ""

    def fields(
        self, clear: dict[str, FieldValue], sealed: bytes | None, serial: str, version: int
    ) -> dict[str, FieldValue]:
        """The version's data, sensitive fields opened (dropped if they do not open)."""
        try:
            secret = self.vault.open_values(sealed, f"{serial}:{version}")
        except (Internal, ValueError) as exc:
            log.error(
                "licence %s v%s: sealed fields do not open (%s)",
                serial,
                version,
                type(exc).__name__,
            )
            secret = {}
        return {**clear, **secret}  # type: ignore[dict-item]
