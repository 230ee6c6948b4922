"""The licence store, composed from its use cases: one object per use case, each small and
each given only what it needs.

- :class:`~services.licence_store.catalogue.Catalogue` — departments, signing keys, client
  certificates, licence types;
- :class:`~services.licence_store.lifecycle.Lifecycle` — issue, change, renew, status;
- :class:`~services.licence_store.queries.Queries` — get, history, list by holder, events;
- :class:`~services.licence_store.bulk_import.Importer` — bulk import;
- :class:`~services.licence_store.consents.Consents` — the holder's consent grants;
- :class:`~services.licence_store.local_reader.LocalReader` — the
  :class:`~services.licence_store.reader.LicenceReader` the verifier and assistance read
  through.

Methods take the calling department explicitly and plain Python values (never protobuf);
the gRPC servicer is a thin translation on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.common.access_log import AccessLog
from services.common.clock import Clock
from services.common.database import Database
from services.common.holder_vault import HolderVault
from services.common.metrics import NO_METRICS, Metrics
from services.common.notify import ChangeNotifier
from services.common.sealing import Sealer
from services.common.trust import TrustWatch
from services.licence_store.bulk_import import Importer
from services.licence_store.catalogue import Catalogue, CatalogueCache
from services.licence_store.consent_gate import ConsentGate
from services.licence_store.consents import DEFAULT_MAX_DAYS, Consents
from services.licence_store.keyring import KeyRing, PublicKeys
from services.licence_store.lifecycle import Lifecycle
from services.licence_store.local_reader import LocalReader
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.queries import Queries
from services.licence_store.use_case import StoreParts


@dataclass(frozen=True)
class ReadSide:
    """What reading licences needs, and all a verifier-only process builds of the store."""

    trust: TrustWatch
    cache: CatalogueCache
    public_keys: PublicKeys
    codec: LicenceCodec
    reader: LocalReader

    @classmethod
    def build(cls, db: Database, vault: HolderVault, metrics: Metrics = NO_METRICS) -> ReadSide:
        """The trust watch, the catalogue cache, public keys, the codec of sealed columns and
        the reader (the caches are dropped when trust is withdrawn in any process)."""
        trust = TrustWatch(db)
        cache = CatalogueCache(db, trust=trust)
        public_keys = PublicKeys(db)
        trust.on_change(cache.invalidate)
        trust.on_change(public_keys.forget)
        codec = LicenceCodec(vault, _sensitive_fields(cache))
        reader = LocalReader(db, public_keys, cache, codec, vault.sealer, trust, metrics)
        return cls(trust, cache, public_keys, codec, reader)


class LicenceStoreService:
    """Catalogue, lifecycle, queries and bulk import of e-licences, and their reader."""

    def __init__(
        self,
        db: Database,
        sealer: Sealer,
        clock: Clock,
        access_log: AccessLog,
        vault: HolderVault,
        notifier: ChangeNotifier | None = None,
        read_side: ReadSide | None = None,
        metrics: Metrics = NO_METRICS,
        *,
        consent_gate: ConsentGate | None = None,
        consent_max_days: int = DEFAULT_MAX_DAYS,
    ) -> None:
        read = read_side or ReadSide.build(db, vault, metrics)
        gate = consent_gate or ConsentGate(db, read.cache, read.public_keys, clock, vault)
        self.db = db
        self.metrics = metrics
        self.vault = vault
        self.access_log = access_log
        self.notifier = notifier or ChangeNotifier()
        self.cache = read.cache
        self.trust = read.trust
        self.codec = read.codec
        self.reader = read.reader
        keyring = KeyRing(sealer, read.public_keys)
        self.catalogue = Catalogue(db, keyring, clock, read.cache)
        self.queries = Queries(db, clock, read.cache, read.codec, vault, access_log, gate)
        parts = StoreParts(db, keyring, clock, read.cache, read.codec)
        self.consents = Consents(parts, vault, gate, consent_max_days)
        self.lifecycle = Lifecycle(parts, vault, self.notifier, self.queries)
        self.imports = Importer(parts, self.notifier, self.lifecycle, metrics)


def _sensitive_fields(cache: CatalogueCache) -> Callable[[str], frozenset[str]]:
    def sensitive(type_code: str) -> frozenset[str]:
        lt = cache.licence_type(type_code)
        return lt.sensitive_names if lt else frozenset()

    return sensitive
