"""The verifier's own signing keys (receipts, QR payloads), private halves sealed at rest."""

from __future__ import annotations

import threading
import time
from typing import Any

from services.common.clock import Clock, as_utc
from services.common.database import Database
from services.common.errors import AlreadyExists
from services.common.sealing import Sealer
from services.common.signing import SigningKey, new_key_id
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.verifier.persistence import repository as repo

CACHE_SECONDS = 5.0


class ServiceKeys:
    """Keys for one purpose ("receipt", "qr"): made on first use, cached briefly."""

    def __init__(self, db: Database, sealer: Sealer, purpose: str, clock: Clock) -> None:
        self._db, self._sealer, self._clock = db, sealer, clock
        self.purpose = purpose
        self._lock = threading.Lock()
        self._current: tuple[float, SigningKey] | None = None
        self._public: dict[str, SigningKeyRecord | None] = {}

    def signing_key(self) -> SigningKey:
        """The current private key (created the first time)."""
        with self._lock:
            if self._current and time.monotonic() - self._current[0] < CACHE_SECONDS:
                return self._current[1]
        key = self._load() or self._create()
        with self._lock:
            self._current = (time.monotonic(), key)
        return key

    def _load(self) -> SigningKey | None:
        with self._db.read() as conn:
            row = repo.current_service_key(conn, self.purpose)
        if row is None:
            return None
        raw = self._sealer.open(bytes(row.sealed_private_key), aad=row.key_id.encode())
        return SigningKey.from_private_bytes(row.key_id, raw, row.algorithm)

    def _new_row(self) -> tuple[SigningKey, dict[str, object]]:
        key = SigningKey.generate(new_key_id(f"yihao-{self.purpose}"))
        return key, {
            "key_id": key.key_id,
            "purpose": self.purpose,
            "algorithm": key.algorithm,
            "public_key": key.public().public_key,
            "sealed_private_key": self._sealer.seal(key.private_bytes(), aad=key.key_id.encode()),
            "valid_from": self._clock.now(),
            "valid_until": None,
        }

    def _create(self) -> SigningKey:
        _key, values = self._new_row()
        try:
            with self._db.transaction() as conn:
                if repo.current_service_key(conn, self.purpose) is None:
                    repo.add_service_key(conn, values, self._clock.now())
        except AlreadyExists:  # pragma: no cover - another process made one first
            pass
        found = self._load()
        assert found is not None
        return found

    def rotate(self) -> SigningKey:
        """Retire the current key and start a new one."""
        key, values = self._new_row()
        with self._db.transaction() as conn:
            repo.add_service_key(conn, values, self._clock.now())
        with self._lock:
            self._current = None
        return key

    def public(self, key_id: str) -> SigningKeyRecord | None:
        """A public key of this purpose by id."""
        with self._lock:
            if key_id in self._public:
                return self._public[key_id]
        with self._db.read() as conn:
            row = repo.service_key(conn, key_id)
        record = _record(row) if row is not None and row.purpose == self.purpose else None
        with self._lock:
            if record is not None:
                self._public[key_id] = record
        return record

    def all_public(self) -> list[SigningKeyRecord]:
        """Every key of this purpose, newest first."""
        with self._db.read() as conn:
            return [_record(r) for r in repo.all_service_keys(conn, self.purpose)]


def _record(r: Any) -> SigningKeyRecord:
    return SigningKeyRecord(
        key_id=r.key_id,
        department_code=f"yihao:{r.purpose}",
        algorithm=r.algorithm,
        public_key=bytes(r.public_key),
        valid_from=as_utc(r.valid_from),
        valid_until=as_utc(r.valid_until) if r.valid_until else None,
    )
