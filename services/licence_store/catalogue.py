"""The licence store's catalogue: departments, their signing keys and client certificates, and
licence types; and the short-lived cache every call reads them from."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import InvalidArgument, NotFound
from services.common.identifiers import validate_department_code, validate_licence_type_code
from services.common.paging import decode_token, encode_token, page_after, page_size
from services.common.roles import Role
from services.common.trust import TrustWatch, withdraw
from services.licence_store.domain.catalogue import Department, LicenceType, check_text
from services.licence_store.domain.grants import (
    ENVELOPE_FIELDS,
    EVERY_DEPARTMENT,
    GrantKey,
    ReadGrant,
    grants_by_key,
)
from services.licence_store.key_log import log_key_marks
from services.licence_store.keyring import KeyRing
from services.licence_store.persistence import catalogue as repo

CATALOGUE_TTL_SECONDS = 2.0


class CatalogueCache:
    """Licence types and departments, cached for a couple of seconds (read on every call)."""

    def __init__(
        self, db: Database, ttl: float = CATALOGUE_TTL_SECONDS, trust: TrustWatch | None = None
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._trust = trust
        self._lock = threading.Lock()
        self._reloading = threading.Lock()
        self._loaded_at = -1e9
        self._types: dict[str, LicenceType] = {}
        self._departments: dict[str, Department] = {}
        self._revoked: set[str] = set()
        self._grants: dict[GrantKey, ReadGrant] = {}

    def invalidate(self) -> None:
        """Forget everything (after a catalogue write in this process)."""
        with self._lock:
            self._loaded_at = -1e9

    def _fresh(self) -> tuple[dict[str, LicenceType], dict[str, Department]]:
        if time.monotonic() - self._loaded_at < self._ttl:  # read without the lock: the
            return self._types, self._departments  # four are replaced together under it
        # One thread reloads; the others wait for its answer rather than reloading too (under
        # load every handler thread found the cache stale at once and read it again).
        with self._reloading:
            with self._lock:
                if time.monotonic() - self._loaded_at < self._ttl:
                    return self._types, self._departments
            return self._reload()

    def _reload(self) -> tuple[dict[str, LicenceType], dict[str, Department]]:
        with self._db.read() as conn:
            types = {t.type_code: t for t in repo.list_licence_types(conn)}
            depts = {d.credit_code: d for d in all_departments(conn)}
            revoked = repo.revoked_serials(conn)
            grants = grants_by_key(repo.list_read_grants(conn))
        with self._lock:
            self._types, self._departments, self._loaded_at = types, depts, time.monotonic()
            self._revoked, self._grants = revoked, grants
        return types, depts

    def licence_type(self, code: str) -> LicenceType | None:
        """A licence type by code."""
        return self._fresh()[0].get(code)

    def licence_types(self) -> list[LicenceType]:
        """Every licence type."""
        return list(self._fresh()[0].values())

    def department(self, code: str) -> Department | None:
        """A department by credit code (without its keys)."""
        return self._fresh()[1].get(code)

    def read_grants(self) -> dict[GrantKey, ReadGrant]:
        """Every read grant, keyed by (department or ``*``, licence type)."""
        self._fresh()
        with self._lock:
            return self._grants

    def is_revoked(self, serial: str) -> bool:
        """Whether a client certificate serial is on the revocation list (for identity): in
        force on every process within the trust bound (:mod:`services.common.trust`)."""
        if self._trust is not None:
            self._trust.check()
        self._fresh()
        with self._lock:
            return serial in self._revoked

    def roles_of(self, code: str) -> frozenset[Role] | None:
        """A department's roles, or None when it is not registered (for authorisation)."""
        if self._trust is not None:
            self._trust.check()
        dept = self.department(code)
        return dept.roles if dept else None


def all_departments(conn: Connection) -> Iterable[Department]:
    """Every department with its keys, in credit-code order (read a page at a time)."""
    after = ""
    while batch := repo.list_departments(conn, after, 1000):
        yield from batch
        after = batch[-1].credit_code


class Catalogue:
    """Registering and reading departments, signing keys, certificates and licence types."""

    def __init__(self, db: Database, keyring: KeyRing, clock: Clock, cache: CatalogueCache) -> None:
        self.db = db
        self.keyring = keyring
        self.clock = clock
        self.cache = cache

    def register_department(
        self, code: str, name: str, region: str, roles: Iterable[Role]
    ) -> Department:
        """Register a department or update it; a new department gets its first signing key."""
        dept = Department.create(credit_code=code, name=name, region=region, roles=roles)
        at = self.clock.now()
        with self.db.transaction() as conn:
            repo.save_department(conn, dept, at)
            if not repo.keys_of(conn, dept.credit_code):
                self.keyring.create_key(conn, dept.credit_code, at)
            log_key_marks(conn, repo.keys_of(conn, dept.credit_code), at)
            withdraw(conn, at)  # roles may have been taken away
            saved = repo.get_department(conn, dept.credit_code)
        self.cache.invalidate()
        assert saved is not None
        return saved

    def get_department(self, code: str) -> Department:
        """A department with its keys."""
        code = validate_department_code(code, "credit_code")
        with self.db.read() as conn:
            dept = repo.get_department(conn, code)
        if dept is None:
            raise NotFound(f"no department {code}", reason="DEPARTMENT_NOT_FOUND")
        return dept

    def department_registered_at(self, code: str) -> datetime | None:
        """When a department was registered."""
        with self.db.read() as conn:
            return repo.department_registered_at(conn, code)

    def list_departments(self, size: int, token: str) -> tuple[list[Department], str]:
        """A page of departments, in credit-code order."""
        limit = page_size(size, 100, 1000)
        after = decode_token(token)
        with self.db.read() as conn:
            depts = repo.list_departments(conn, after, limit + 1)
        more = len(depts) > limit
        depts = depts[:limit]
        return depts, encode_token(depts[-1].credit_code) if more else ""

    def rotate_signing_key(self, code: str) -> Department:
        """Start a new signing key; the old one keeps verifying what it signed."""
        dept = self.get_department(code)
        with self.db.transaction() as conn:
            self.keyring.create_key(conn, dept.credit_code, self.clock.now())
            log_key_marks(conn, repo.keys_of(conn, dept.credit_code), self.clock.now())
            withdraw(conn, self.clock.now())  # the old key's valid_until changed
            saved = repo.get_department(conn, dept.credit_code)
        assert saved is not None
        return saved

    def mark_key_compromised(self, key_id: str, since: datetime | None) -> Department:
        """Distrust everything ``key_id`` signed from ``since`` (default now); if it was the
        department's current key, a new one takes over at once."""
        at = since or self.clock.now()
        if at > self.clock.now():
            raise InvalidArgument.field("compromised_at", "must not be in the future", "FUTURE")
        with self.db.transaction() as conn:
            key = repo.get_key(conn, key_id.strip())
            if key is None or not repo.mark_compromised(conn, key.key_id, at):
                raise NotFound(f"no signing key {key_id}", reason="KEY_NOT_FOUND")
            if key.valid_until is None:
                self.keyring.create_key(conn, key.department_code, self.clock.now())
            log_key_marks(conn, repo.keys_of(conn, key.department_code), self.clock.now())
            withdraw(conn, self.clock.now())
            saved = repo.get_department(conn, key.department_code)
        self.keyring.forget(key.key_id)
        assert saved is not None
        return saved

    def revoke_certificate(self, serial: str, department_code: str, reason: str) -> Department:
        """Refuse a department's client certificate from now on (lost, stolen, staff left)."""
        serial = serial.strip().upper().replace(":", "")
        if not serial or len(serial) > 64 or any(c not in "0123456789ABCDEF" for c in serial):
            raise InvalidArgument.field(
                "serial_number", "is the certificate's serial number in hex", "FORMAT"
            )
        dept = self.get_department(department_code)
        reason = check_text(reason, "reason", 200, required=False)
        with self.db.transaction() as conn:
            repo.revoke_certificate(conn, serial, dept.credit_code, reason, self.clock.now())
            withdraw(conn, self.clock.now())
        self.cache.invalidate()
        return dept

    def register_licence_type(self, licence_type: LicenceType) -> LicenceType:
        """Register (or replace) a licence type; its issuers must be registered departments."""
        with self.db.transaction() as conn:
            for i, code in enumerate(sorted(licence_type.issuer_codes)):
                if repo.get_department(conn, code) is None:
                    raise InvalidArgument.field(
                        f"licence_type.issuer_codes[{i}]",
                        f"{code} is not a registered department",
                        "UNKNOWN_DEPARTMENT",
                    )
            repo.save_licence_type(conn, licence_type, self.clock.now())
        self.cache.invalidate()
        return licence_type

    def get_licence_type(self, code: str) -> LicenceType:
        """A licence type by code."""
        code = validate_licence_type_code(code, "type_code")
        found = self.cache.licence_type(code)
        if found is None:
            raise NotFound(f"no licence type {code} in the catalogue", reason="TYPE_NOT_FOUND")
        return found

    def list_licence_types(self, issuer_code: str = "") -> list[LicenceType]:
        """Licence types, optionally only those ``issuer_code`` may issue."""
        types = self.cache.licence_types()
        if issuer_code:
            code = validate_department_code(issuer_code, "issuer_code")
            types = [t for t in types if t.may_issue(code)]
        return sorted(types, key=lambda t: t.type_code)

    def licence_types_page(
        self, issuer_code: str, size: int, token: str
    ) -> tuple[list[LicenceType], str]:
        """A page of :meth:`list_licence_types`, in code order, and the next page's token."""
        limit = page_size(size, 100, 1000)
        return page_after(self.list_licence_types(issuer_code), lambda t: t.type_code, limit, token)

    def grant_read(self, grant: ReadGrant) -> ReadGrant:
        """Register (or replace) a read grant; its type, department and fields must exist."""
        lt = self.get_licence_type(grant.type_code)
        if grant.department_code != EVERY_DEPARTMENT:
            self.get_department(grant.department_code)
        names = {f.name for f in lt.fields} | set(ENVELOPE_FIELDS)
        for path, values in (("fields", grant.fields), ("unmasked_fields", grant.unmasked_fields)):
            for i, name in enumerate(values):
                if name not in names:
                    raise InvalidArgument.field(
                        f"grant.{path}[{i}]", f"{name!r} is not a field of {lt.type_code}", "FIELD"
                    )
        for i, purpose in enumerate(grant.purposes):
            check_text(purpose, f"grant.purposes[{i}]", 200)
        with self.db.transaction() as conn:
            repo.save_read_grant(conn, grant, self.clock.now())
        self.cache.invalidate()
        return grant
