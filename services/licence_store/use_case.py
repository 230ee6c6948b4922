"""What the licence store's signing use cases (consents, lifecycle, bulk import) all work
with, passed as one value instead of five parameters each."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.clock import Clock
from services.common.database import Database
from services.licence_store.catalogue import CatalogueCache
from services.licence_store.keyring import KeyRing
from services.licence_store.persistence.codec import LicenceCodec

__all__ = ["StoreParts", "UseCase"]


@dataclass(frozen=True)
class StoreParts:
    """The database, the departments' signing keys, the clock, the catalogue and the codec
    of stored licences."""

    db: Database
    keyring: KeyRing
    clock: Clock
    cache: CatalogueCache
    codec: LicenceCodec


class UseCase:
    """A use-case class of the store: its parts as attributes (``self.db``, ``self.clock``…)."""

    def __init__(self, parts: StoreParts) -> None:
        self.db = parts.db
        self.keyring = parts.keyring
        self.clock = parts.clock
        self.cache = parts.cache
        self.codec = parts.codec
