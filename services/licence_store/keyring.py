"""Departments' signing keys: generated here, private halves sealed at rest.

A private key is unsealed once per process and kept in memory; public keys are cached briefly
(rotation changes a key's ``valid_until``, so the cache is short-lived), and trusted only when
their marks are the ones their newest log entry commits to (services.licence_store.key_log).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy import Connection

from services.common.database import Database
from services.common.errors import FailedPrecondition
from services.common.sealing import Sealer
from services.common.signing import SigningKey, new_key_id
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.key_log import read_key, trusted
from services.licence_store.persistence import catalogue as repo

log = logging.getLogger("yihao.keys")

PUBLIC_KEY_TTL_SECONDS = 5.0


class PublicKeys:
    """Departments' public signing keys by id, cached for a few seconds: all a reader of
    licences needs (it never holds the key that opens the private halves)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._public: dict[str, tuple[float, SigningKeyRecord | None]] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> SigningKeyRecord | None:
        """A public key by id (from the cache, else read now)."""
        hit, record = self.cached(key_id)
        if hit:
            return record
        with self._db.read() as conn:
            return self.read(conn, key_id)

    def cached(self, key_id: str) -> tuple[bool, SigningKeyRecord | None]:
        """(found in the cache, key) without touching the database."""
        with self._lock:
            cached = self._public.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < PUBLIC_KEY_TTL_SECONDS:
            return True, cached[1]
        return False, None

    def read(self, conn: Connection, key_id: str) -> SigningKeyRecord | None:
        """A public key by id, in ``conn``'s unit of work (cached for a few seconds)."""
        hit, record = self.cached(key_id)
        if hit:
            return record
        now = time.monotonic()
        record, logged = read_key(conn, key_id)
        if record is not None and not trusted(record, logged):
            log.error(
                "KEY MARKS: the validity or compromise marks of signing key %s differ from its "
                "log entry (edited behind the log?): its signatures are not trusted",
                key_id,
            )
            record = None
        with self._lock:
            self._public[key_id] = (now, record)
        return record

    def forget(self) -> None:
        """Drop every cached key (a key was created, retired or marked compromised)."""
        with self._lock:
            self._public.clear()


class KeyRing:
    """Creates, finds and unseals department signing keys."""

    def __init__(self, sealer: Sealer, public: PublicKeys) -> None:
        self._sealer = sealer
        self.public = public
        self._private: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def create_key(self, conn: Connection, department_code: str, at: datetime) -> SigningKeyRecord:
        """Retire the department's current key (if any) and start a new one at ``at``."""
        repo.retire_keys(conn, department_code, at)
        key = SigningKey.generate(new_key_id(department_code))
        record = SigningKeyRecord(
            key_id=key.key_id,
            department_code=department_code,
            algorithm=key.algorithm,
            public_key=key.public().public_key,
            valid_from=at,
        )
        sealed = self._sealer.seal(key.private_bytes(), aad=key.key_id.encode())
        repo.add_key(conn, record, sealed)
        with self._lock:
            self._private[key.key_id] = key
        self.public.forget()
        return record

    def signing_key(self, conn: Connection, department_code: str) -> SigningKey:
        """The department's current signing key, unsealed."""
        found = repo.current_sealed_key(conn, department_code)
        if found is None:
            raise FailedPrecondition(
                f"department {department_code} has no signing key; register it first",
                reason="NO_SIGNING_KEY",
            )
        key_id, algorithm, sealed = found
        with self._lock:
            key = self._private.get(key_id)
        if key is None:
            raw = self._sealer.open(sealed, aad=key_id.encode())
            key = SigningKey.from_private_bytes(key_id, raw, algorithm)
            with self._lock:
                self._private[key_id] = key
        return key

    def forget(self, key_id: str) -> None:
        """Drop what this process cached about a key (after it was marked compromised)."""
        with self._lock:
            self._private.pop(key_id, None)
        self.public.forget()
