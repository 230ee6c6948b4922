"""The licence store's application service: one method per use case, one unit of work each.

Methods take the calling department explicitly and plain Python values (never protobuf), run
the domain rules, and persist through the repository. The gRPC servicer is a thin translation
on top; other services co-hosted in the process call the read methods here directly.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from services.common.access_log import AccessLog, AccessRecord
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    YihaoError,
)
from services.common.holder_vault import HolderVault
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    LicenceIdentifier,
    parse_holder_number,
    parse_licence_identifier,
    validate_department_code,
    validate_licence_type_code,
)
from services.common.identity import Caller
from services.common.metrics import NO_METRICS, Metrics
from services.common.notify import ChangeNotifier
from services.common.paging import decode_token, encode_token, page_after, page_size
from services.common.roles import Role
from services.common.signing import SigningKey, canonical_json, sha256_hex
from services.common.trust import TrustWatch, withdraw
from services.licence_store.domain.catalogue import (
    Department,
    LicenceType,
    SigningKeyRecord,
    check_text,
    parse_date,
)
from services.licence_store.domain.licence import Action, Effective, Licence, Reason, Status
from services.licence_store.keyring import KeyRing
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence import rows as hot_rows
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.persistence.repository import (
    IdempotencyRecord,
    SignedVersion,
    StoredEvent,
    StoredLicence,
)
from services.licence_store.persistence.rows import LicenceRow

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
CATALOGUE_TTL_SECONDS = 2.0


# ------------------------------------------------------------------------------ value types


@dataclass(frozen=True)
class IssueCommand:
    """An issuing system's request to issue one licence, as typed by the caller."""

    idempotency_key: str
    type_code: str
    licence_number: str
    holder_number: str
    holder_name: str
    fields: Mapping[str, str] = field(default_factory=dict)
    holder_kind: HolderKind | None = None
    valid_from: str = ""
    valid_until: str = ""

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of the whole request: a retried key must come with the same body."""
        body = {
            "type_code": self.type_code,
            "licence_number": self.licence_number,
            "holder_number": self.holder_number,
            "holder_name": self.holder_name,
            "holder_kind": self.holder_kind.value if self.holder_kind else "",
            "fields": dict(self.fields),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
        }
        return sha256_hex(canonical_json(body, plain=_plain_request(body)))


@dataclass(frozen=True)
class LicenceRef:
    """Names a licence: by e-licence identifier (any version), or by type and number."""

    licence_id: str = ""
    type_code: str = ""
    licence_number: str = ""


@dataclass(frozen=True)
class Why:
    """Why a department reads a holder's data: kept in the holder's access record."""

    purpose: str = ""
    case_number: str = ""


@dataclass(frozen=True)
class LicenceView:
    """A licence as answered: stored state, catalogue names, and the status right now."""

    stored: StoredLicence
    type_name: str
    issuer_name: str
    effective: Effective


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one record of a bulk import."""

    line: int
    outcome: str  # "accepted" | "duplicate" | "rejected"
    licence_id: str = ""
    reason_code: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Page:
    """One page of licences and the token for the next one ("" at the end)."""

    items: list[LicenceView]
    next_token: str


@dataclass(frozen=True)
class History:
    """Every version of a licence, and every event."""

    versions: list[LicenceView]
    events: list[StoredEvent]


# --------------------------------------------------------------------------- catalogue cache


class CatalogueCache:
    """Licence types and departments, cached for a couple of seconds (read on every call)."""

    def __init__(
        self, db: Database, ttl: float = CATALOGUE_TTL_SECONDS, trust: TrustWatch | None = None
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._trust = trust
        self._lock = threading.Lock()
        self._loaded_at = -1e9
        self._types: dict[str, LicenceType] = {}
        self._departments: dict[str, Department] = {}
        self._revoked: set[str] = set()

    def invalidate(self) -> None:
        """Forget everything (after a catalogue write in this process)."""
        with self._lock:
            self._loaded_at = -1e9

    def _fresh(self) -> tuple[dict[str, LicenceType], dict[str, Department]]:
        with self._lock:
            if time.monotonic() - self._loaded_at < self._ttl:
                return self._types, self._departments
        with self._db.read() as conn:
            types = {t.type_code: t for t in repo.list_licence_types(conn)}
            depts = {d.credit_code: d for d in _all_departments(conn)}
            revoked = repo.revoked_serials(conn)
        with self._lock:
            self._types, self._departments, self._loaded_at = types, depts, time.monotonic()
            self._revoked = revoked
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


def _all_departments(conn: Connection) -> Iterable[Department]:
    after = ""
    while batch := repo.list_departments(conn, after, 1000):
        yield from batch
        after = batch[-1].credit_code


# ---------------------------------------------------------------------------------- service


class LicenceStoreService:
    """Catalogue, lifecycle, queries and bulk import of e-licences."""

    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        clock: Clock,
        access_log: AccessLog,
        vault: HolderVault,
        notifier: ChangeNotifier | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.access_log = access_log
        self.vault = vault
        self.keyring = keyring
        self.clock = clock
        self.notifier = notifier or ChangeNotifier()
        self.trust = TrustWatch(db)
        self.catalogue = CatalogueCache(db, trust=self.trust)
        self.trust.on_change(self.catalogue.invalidate)
        self.trust.on_change(keyring.forget_public_keys)
        self.codec = LicenceCodec(vault, self._sensitive_fields)

    def _keyed(self, cmd: IssueCommand) -> str:
        """The command's fingerprint, keyed: a stored fingerprint reveals nothing guessable."""
        return self.vault.mac(cmd.fingerprint.encode())

    def _sensitive_fields(self, type_code: str) -> frozenset[str]:
        lt = self.catalogue.licence_type(type_code)
        return lt.sensitive_names if lt else frozenset()

    # ------------------------------------------------------------------------- catalogue

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
            withdraw(conn, at)  # roles may have been taken away
            saved = repo.get_department(conn, dept.credit_code)
        self.catalogue.invalidate()
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
        self.catalogue.invalidate()
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
        self.catalogue.invalidate()
        return licence_type

    def get_licence_type(self, code: str) -> LicenceType:
        """A licence type by code."""
        code = validate_licence_type_code(code, "type_code")
        found = self.catalogue.licence_type(code)
        if found is None:
            raise NotFound(f"no licence type {code} in the catalogue", reason="TYPE_NOT_FOUND")
        return found

    def list_licence_types(self, issuer_code: str = "") -> list[LicenceType]:
        """Licence types, optionally only those ``issuer_code`` may issue."""
        types = self.catalogue.licence_types()
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

    # --------------------------------------------------------------------------- issuing

    def issue(self, caller: Caller, cmd: IssueCommand) -> LicenceView:
        """Issue one licence; a retry with the same idempotency key returns the same one."""
        key = _check_idempotency_key(cmd.idempotency_key, required=True)
        licence = self._new_licence(caller, cmd)
        fingerprint = self._keyed(cmd)
        for attempt in (1, 2):
            try:
                outcome = self._issue_once(caller, key, fingerprint, licence)
                break
            except (sa_exc.IntegrityError, AlreadyExists):
                # A concurrent request took the key or the number first (perhaps a retry of
                # this very request, committed a moment ago): decide again, seeing it now.
                if attempt == 2:
                    raise
        if isinstance(outcome, str):  # a replay: answer with the licence as it is now
            return self.get(caller, LicenceRef(), serial=outcome)
        self.notifier.notify()
        return self._view(outcome)

    def _issue_once(
        self, caller: Caller, key: str, fingerprint: str, licence: Licence
    ) -> StoredLicence | str:
        """The stored new licence, or the serial of the one an earlier identical request made."""
        with self.db.transaction() as conn:
            replay = _replay(conn, caller, key, "IssueLicence", fingerprint)
            if replay is not None:
                return replay
            if repo.find_serial_by_number(conn, licence.type_code, licence.licence_number):
                raise _number_taken(licence)
            signed = self._sign(conn, licence)
            repo.insert_licences(conn, [(licence, signed)], self.codec)
            record = IdempotencyRecord("IssueLicence", fingerprint, licence.serial)
            repo.put_idempotency(conn, caller.code, [(key, record)], self.clock.now())
            return StoredLicence(licence, signed)

    def _new_licence(
        self,
        caller: Caller,
        cmd: IssueCommand,
        licence_type_of: Callable[[str], LicenceType | None] | None = None,
    ) -> Licence:
        """Validate an issue command completely, without touching the database.

        ``licence_type_of`` looks types up (default: the catalogue cache); a batch passes one
        that remembers what it found, so the catalogue is consulted once per type."""
        type_code = validate_licence_type_code(cmd.type_code, "type_code")
        licence_type = (licence_type_of or self.catalogue.licence_type)(type_code)
        if licence_type is None:
            raise NotFound(f"no licence type {type_code} in the catalogue", reason="TYPE_NOT_FOUND")
        if not licence_type.may_issue(caller.code):
            raise PermissionDenied(
                f"department {caller.code} is not registered to issue {licence_type.name}",
                reason="NOT_REGISTERED_ISSUER",
            )
        holder = parse_holder_number(
            cmd.holder_number, "holder.number", cmd.holder_kind or licence_type.holder_kind
        )
        return Licence.issue(
            licence_type=licence_type,
            issuer_code=caller.code,
            licence_number=cmd.licence_number,
            holder=holder,
            holder_name=cmd.holder_name,
            data=cmd.fields,
            valid_from=_optional_date(cmd.valid_from, "valid_from"),
            valid_until=_optional_date(cmd.valid_until, "valid_until"),
            at=self.clock.now(),
        )

    def _sign(
        self, conn: Connection, licence: Licence, key: SigningKey | None = None
    ) -> SignedVersion:
        key = key or self.keyring.signing_key(conn, licence.issuer_code)
        document = licence.content()
        content = canonical_json(document, plain=True)
        return SignedVersion(
            licence_id=str(document["licence_id"]),
            key_id=key.key_id,
            algorithm=key.algorithm,
            signature=key.sign(content),
            content_sha256=sha256_hex(content),
        )

    # ------------------------------------------------------------------------- lifecycle

    def change(
        self,
        caller: Caller,
        ref: LicenceRef,
        fields: Mapping[str, str],
        holder_name: str,
        idempotency_key: str = "",
        reason: str = "",
    ) -> LicenceView:
        """A new version with changed data or holder name; ``reason`` goes on the event."""
        fingerprint = self.vault.mac(
            canonical_json(["change", _ref_json(ref), dict(fields), holder_name, reason])
        )

        def apply(lic: Licence, lt: LicenceType, at: datetime) -> bool:
            lic.change(lt, fields, holder_name, caller.code, at, reason)
            return True

        return self._mutate(caller, ref, "ChangeLicence", idempotency_key, fingerprint, apply)

    def renew(
        self,
        caller: Caller,
        ref: LicenceRef,
        valid_until: str,
        idempotency_key: str = "",
        reason: str = "",
    ) -> LicenceView:
        """A new version with a later end of validity; ``reason`` goes on the event."""
        until = _optional_date(valid_until, "valid_until")
        fingerprint = self.vault.mac(canonical_json(["renew", _ref_json(ref), valid_until, reason]))

        def apply(lic: Licence, lt: LicenceType, at: datetime) -> bool:
            lic.renew(until, lt.default_validity_days, caller.code, at, reason)
            return True

        return self._mutate(caller, ref, "RenewLicence", idempotency_key, fingerprint, apply)

    def change_status(
        self,
        caller: Caller,
        action: Action,
        ref: LicenceRef,
        reason_code: str,
        reason_text: str,
        idempotency_key: str = "",
    ) -> LicenceView:
        """Suspend, reinstate, revoke or cancel, with a coded reason."""
        reason = Reason.for_action(action, reason_code, reason_text)
        fingerprint = self.vault.mac(
            canonical_json([action.verb, _ref_json(ref), reason.code, reason.text])
        )

        def apply(lic: Licence, _lt: LicenceType, at: datetime) -> bool:
            lic.apply(action, reason, caller.code, at)
            return False

        return self._mutate(caller, ref, action.verb, idempotency_key, fingerprint, apply)

    def _mutate(
        self,
        caller: Caller,
        ref: LicenceRef,
        method: str,
        idempotency_key: str,
        fingerprint: str,
        apply: Callable[[Licence, LicenceType, datetime], bool],
    ) -> LicenceView:
        key = _check_idempotency_key(idempotency_key, required=False)
        with self.db.transaction() as conn:
            replay = _replay(conn, caller, key, method, fingerprint) if key else None
            if replay is not None:
                serial = replay
            else:
                serial = self._apply(conn, caller, ref, apply)
                if key:
                    record = IdempotencyRecord(method, fingerprint, serial)
                    repo.put_idempotency(conn, caller.code, [(key, record)], self.clock.now())
        self.notifier.notify()
        return self.get(caller, LicenceRef(), serial=serial)

    def _apply(
        self,
        conn: Connection,
        caller: Caller,
        ref: LicenceRef,
        apply: Callable[[Licence, LicenceType, datetime], bool],
    ) -> str:
        serial = self._resolve(conn, ref)
        stored = repo.get_by_serial(conn, serial, self.codec, for_update=True)
        if stored is None:  # pragma: no cover - resolved a moment ago in this transaction
            raise _not_found(ref)
        licence = stored.licence
        if licence.issuer_code != caller.code:
            raise PermissionDenied(
                "only the issuing department may change this licence", reason="NOT_ISSUER"
            )
        licence_type = self.catalogue.licence_type(licence.type_code)
        assert licence_type is not None
        new_version = apply(licence, licence_type, self.clock.now())
        signed = self._sign(conn, licence) if new_version else None
        repo.update_licence(conn, licence, signed, self.codec)
        return serial

    # --------------------------------------------------------------------------- queries

    def get(
        self,
        caller: Caller,
        ref: LicenceRef,
        version: int = 0,
        *,
        serial: str = "",
        why: Why | None = None,
    ) -> LicenceView:
        """A licence at its current version, or at ``version``; ``why`` records the read."""
        if version < 0 or version > 999:
            raise InvalidArgument.field("version", "must be between 0 and 999", "OUT_OF_RANGE")
        with self.db.read() as conn:
            serial = serial or self._resolve(conn, ref)
            stored = (
                repo.get_version(conn, serial, version, self.codec)
                if version
                else repo.get_by_serial(conn, serial, self.codec)
            )
        if stored is None:
            raise NotFound(f"licence has no version {version}", reason="VERSION_NOT_FOUND")
        view = self._view(stored)
        if why is not None:
            self._log_reads(caller, [view], "licence data", why)
        return view

    def history(self, caller: Caller, ref: LicenceRef, why: Why | None = None) -> History:
        """Every version and event of a licence."""
        with self.db.read() as conn:
            serial = self._resolve(conn, ref)
            versions = repo.list_versions(conn, serial, self.codec)
            events = repo.events_after(conn, 0, (), 100_000, serial=serial)
        history = History([self._view(v) for v in versions], events)
        if why is not None and history.versions:
            self._log_reads(caller, history.versions[-1:], "licence history", why)
        return history

    def _log_reads(self, caller: Caller, views: Sequence[LicenceView], what: str, why: Why) -> None:
        """Leave an access record for each holder whose data is answered."""
        at = self.clock.now()
        self.access_log.record(
            [
                AccessRecord(
                    holder_key=self.vault.index(v.stored.licence.holder),
                    department_code=caller.code,
                    channel="licence_store",
                    what=f"{v.type_name} {v.stored.licence.licence_number}: {what}",
                    at=at,
                    purpose=why.purpose,
                    case_number=why.case_number,
                )
                for v in views
            ]
        )

    def list_by_holder(
        self,
        caller: Caller,
        holder_number: str,
        type_codes: Sequence[str],
        statuses: Sequence[Status],
        size: int,
        token: str,
        why: Why | None = None,
    ) -> Page:
        """A holder's licences, by any accepted form of the holder's number."""
        holder = parse_holder_number(holder_number, "holder_number")
        codes = [
            validate_licence_type_code(c, f"type_codes[{i}]") for i, c in enumerate(type_codes)
        ]
        limit = page_size(size, 50, 500)
        after = decode_token(token)
        with self.db.read() as conn:
            rows = repo.list_by_holder(conn, holder, codes, statuses, after, limit + 1, self.codec)
        more = len(rows) > limit
        rows = rows[:limit]
        next_token = encode_token(rows[-1].licence.serial) if more else ""
        page = Page([self._view(r) for r in rows], next_token)
        if why is not None:
            self._log_reads(caller, page.items, "listed by holder number", why)
        return page

    def events_after(self, cursor: int, type_codes: Sequence[str], limit: int) -> list[StoredEvent]:
        """Events after ``cursor`` (for WatchEvents)."""
        if cursor < 0:
            raise InvalidArgument.field("after_cursor", "must not be negative", "OUT_OF_RANGE")
        codes = [
            validate_licence_type_code(c, f"type_codes[{i}]") for i, c in enumerate(type_codes)
        ]
        with self.db.read() as conn:
            return repo.events_after(conn, cursor, codes, limit)

    # ------------------------------------------------ read interface for co-hosted services

    def find(self, ref: LicenceRef) -> StoredLicence | None:
        """The licence ``ref`` names at its current version; None when there is none.

        The verifier's hot path: one indexed read.
        """
        if ref.licence_id:
            ident = parse_licence_identifier(ref.licence_id, "licence.licence_id")
            with self.db.read() as conn:
                stored = repo.get_by_serial(conn, ident.serial, self.codec)
            return stored if stored is not None and _names(stored, ident) else None
        with self.db.read() as conn:
            try:
                serial = self._resolve(conn, ref)
            except NotFound:
                return None
            return repo.get_by_serial(conn, serial, self.codec)

    def find_many(self, refs: Sequence[LicenceRef]) -> list[StoredLicence | YihaoError | None]:
        """:meth:`find` for many references at once (batches): identifiers in one query.

        A malformed reference yields its error in its place; the others are unaffected.
        """
        idents: dict[int, LicenceIdentifier] = {}
        out: list[StoredLicence | YihaoError | None] = [None] * len(refs)
        for i, ref in enumerate(refs):
            try:
                if ref.licence_id:
                    idents[i] = parse_licence_identifier(ref.licence_id, "licence.licence_id")
                else:
                    out[i] = self.find(ref)
            except YihaoError as exc:
                out[i] = exc
        with self.db.read() as conn:
            found = repo.get_many_by_serial(
                conn, sorted({x.serial for x in idents.values()}), self.codec
            )
        for i, ident in idents.items():
            stored = found.get(ident.serial)
            out[i] = stored if stored is not None and _names(stored, ident) else None
        return out

    def licence_rows(
        self, serials: Iterable[str], numbers: Iterable[tuple[str, str]] = ()
    ) -> tuple[dict[str, LicenceRow], dict[tuple[str, str], str]]:
        """The verifier's batch read: licences as stored, by serial and by (validated type
        code, licence number); and the serial each number resolved to. Status is read now."""
        by_type: dict[str, list[str]] = {}
        for type_code, number in numbers:
            by_type.setdefault(type_code, []).append(number)
        with self.db.driver_reads() as connection:
            reads = hot_rows.DriverReads(connection, self.db.engine.dialect.name)
            resolved = {
                (type_code, number): serial
                for type_code, wanted in by_type.items()
                for number, serial in reads.serials_by_number(type_code, wanted).items()
            }
            found = reads.rows(sorted({*serials, *resolved.values()}))
        return found, resolved

    def stored_from_row(self, row: LicenceRow) -> StoredLicence:
        """The domain object for a row read by :meth:`licence_rows` (sealed parts opened)."""
        return hot_rows.stored(row, self.codec)

    def find_version(self, serial: str, version: int) -> StoredLicence | None:
        """One version of a licence."""
        with self.db.read() as conn:
            return repo.get_version(conn, serial, version, self.codec)

    def versions_of(self, serial: str) -> list[StoredLicence]:
        """Every version of a licence, oldest first."""
        with self.db.read() as conn:
            return repo.list_versions(conn, serial, self.codec)

    def status_timeline(self, serial: str) -> list[tuple[datetime, Status]]:
        """(instant, status after) for every event of a licence, oldest first."""
        with self.db.read() as conn:
            events = repo.events_after(conn, 0, (), 100_000, serial=serial)
        return [(e.event.at, e.event.status_after) for e in events]

    def public_key(self, key_id: str) -> SigningKeyRecord | None:
        """A department's public signing key by id (a compromise marked in any process is
        seen within the trust bound, :mod:`services.common.trust`)."""
        self.trust.check()
        hit, record = self.keyring.cached_public_key(key_id)
        if hit:
            return record
        with self.db.read() as conn:
            return self.keyring.public_key(conn, key_id)

    def holder_licences(
        self, holder: HolderNumber, type_codes: Sequence[str], limit: int = 500
    ) -> list[StoredLicence]:
        """A holder's licences of the given types (all types when empty)."""
        with self.db.read() as conn:
            return repo.list_by_holder(conn, holder, type_codes, (), "", limit, self.codec)

    def names(self, lic: Licence) -> tuple[str, str]:
        """(licence type name, issuer name) from the catalogue."""
        lt = self.catalogue.licence_type(lic.type_code)
        dept = self.catalogue.department(lic.issuer_code)
        return (lt.name if lt else "", dept.name if dept else "")

    def _resolve(self, conn: Connection, ref: LicenceRef) -> str:
        if ref.licence_id:
            ident = parse_licence_identifier(ref.licence_id, "licence.licence_id")
            stored = repo.get_by_serial(conn, ident.serial, self.codec)
            if stored is None or not _names(stored, ident):
                raise _not_found(ref)
            return ident.serial
        if not ref.type_code and not ref.licence_number:
            raise InvalidArgument.field(
                "licence",
                "name a licence by licence_id or by type_code and licence_number",
                "REQUIRED",
            )
        type_code = validate_licence_type_code(ref.type_code, "licence.type_and_number.type_code")
        if not ref.licence_number.strip():
            raise InvalidArgument.field(
                "licence.type_and_number.licence_number", "is required", "REQUIRED"
            )
        serial = repo.find_serial_by_number(conn, type_code, ref.licence_number.strip())
        if serial is None:
            raise _not_found(ref)
        return serial

    def _view(self, stored: StoredLicence) -> LicenceView:
        type_name, issuer_name = self.names(stored.licence)
        return LicenceView(
            stored=stored,
            type_name=type_name,
            issuer_name=issuer_name,
            effective=stored.licence.effective_status(self.clock.now()),
        )

    # ------------------------------------------------------------------------ bulk import

    def import_batch(
        self, caller: Caller, records: Sequence[tuple[int, IssueCommand | YihaoError]]
    ) -> list[ImportOutcome]:
        """Import a batch: each record accepted, duplicate or rejected on its own."""
        try:
            outcomes = self._import_together(caller, records)
        except sa_exc.IntegrityError:
            # Another writer raced us on a key or number: take the records one at a time.
            outcomes = [self._import_one(caller, line, cmd) for line, cmd in records]
        if any(o.outcome == "accepted" for o in outcomes):
            self.notifier.notify()
        self.metrics.imported(o.outcome for o in outcomes)
        return outcomes

    def _import_one(
        self, caller: Caller, line: int, cmd: IssueCommand | YihaoError
    ) -> ImportOutcome:
        try:
            if isinstance(cmd, YihaoError):
                raise cmd
            with self.db.read() as conn:
                prior = repo.get_idempotency(conn, caller.code, cmd.idempotency_key)
            view = self.issue(caller, cmd)
        except TRANSIENT:
            raise  # not the record's fault: the batch is retried whole
        except YihaoError as exc:
            return ImportOutcome(line, "rejected", reason_code=exc.reason, reason=str(exc))
        outcome = "duplicate" if prior is not None else "accepted"
        return ImportOutcome(line, outcome, licence_id=view.stored.signed.licence_id)

    def _import_together(
        self, caller: Caller, records: Sequence[tuple[int, IssueCommand | YihaoError]]
    ) -> list[ImportOutcome]:
        plan = _ImportPlan(records, self._keyed)
        types: dict[str, LicenceType | None] = {}

        def licence_type_of(code: str) -> LicenceType | None:
            if code not in types:  # one catalogue snapshot for the whole batch
                types[code] = self.catalogue.licence_type(code)
            return types[code]

        for i, (_line, cmd) in enumerate(records):
            plan.validate(i, cmd, lambda c: self._new_licence(caller, c, licence_type_of))
        with self.db.transaction() as conn:
            plan.resolve_existing(conn, caller.code)
            key = self.keyring.signing_key(conn, caller.code)
            batch = [(lic, self._sign(conn, lic, key)) for lic in plan.licences_to_insert()]
            repo.insert_licences(conn, batch, self.codec)
            repo.put_idempotency(conn, caller.code, plan.idempotency_records(), self.clock.now())
        return plan.outcomes()


# ---------------------------------------------------------------------------------- helpers

#: Failures of the store, not of a record: an import batch meeting one fails whole (the
#: client retries it) rather than answering its records REJECTED. A catalogue reload during
#: a PostgreSQL restart had rejected every record of a batch as DATABASE_UNAVAILABLE.
TRANSIENT = (Unavailable, DeadlineExceeded)


class _ImportPlan:
    """Works out, for a batch of import records, which to insert and what to answer.

    Records are known by their position in the batch: line numbers come from the caller and
    need not be unique.
    """

    def __init__(
        self,
        records: Sequence[tuple[int, IssueCommand | YihaoError]],
        keyed: Callable[[IssueCommand], str],
    ) -> None:
        self.keyed = keyed
        self.lines = [line for line, _ in records]
        self.results: dict[int, ImportOutcome] = {}
        self.pending: dict[int, tuple[IssueCommand, Licence, str]] = {}

    def validate(
        self, i: int, cmd: IssueCommand | YihaoError, build: Callable[[IssueCommand], Licence]
    ) -> None:
        try:
            if isinstance(cmd, YihaoError):
                raise cmd
            key = _check_idempotency_key(cmd.idempotency_key, required=True)
            self.pending[i] = (cmd, build(cmd), key)
        except TRANSIENT:
            raise  # the store's trouble, not the record's: the batch fails and is retried whole
        except YihaoError as exc:
            self.reject(i, exc.reason, str(exc))

    def reject(self, i: int, code: str, reason: str) -> None:
        self.results[i] = ImportOutcome(self.lines[i], "rejected", reason_code=code, reason=reason)
        self.pending.pop(i, None)

    def resolve_existing(self, conn: Connection, caller_code: str) -> None:
        keys = [key for _, _, key in self.pending.values()]
        known = repo.get_idempotency_many(conn, caller_code, keys)
        replayed: dict[int, IdempotencyRecord] = {}
        for i, (cmd, _lic, key) in list(self.pending.items()):
            record = known.get(key)
            if record is None:
                continue
            if record.request_sha256 != self.keyed(cmd):
                self.reject(i, "IDEMPOTENCY_KEY_REUSED", _reused_message(key))
            else:
                replayed[i] = record
        ids = repo.current_licence_ids(conn, [r.serial for r in replayed.values()])
        for i, record in replayed.items():
            licence_id = ids.get(record.serial, "")
            self.results[i] = ImportOutcome(self.lines[i], "duplicate", licence_id=licence_id)
            self.pending.pop(i)
        self._reject_taken_numbers(conn)

    def _reject_taken_numbers(self, conn: Connection) -> None:
        pairs = [(lic.type_code, lic.licence_number) for _, lic, _ in self.pending.values()]
        taken = repo.existing_numbers(conn, pairs)
        seen_numbers: set[tuple[str, str]] = set()
        seen_keys: set[str] = set()
        for i, (_cmd, lic, key) in list(self.pending.items()):
            pair = (lic.type_code, lic.licence_number)
            if pair in taken or pair in seen_numbers:
                self.reject(i, "LICENCE_NUMBER_TAKEN", str(_number_taken(lic)))
            elif key in seen_keys:
                self.reject(i, "IDEMPOTENCY_KEY_REUSED", _reused_message(key) + " in this batch")
            else:
                seen_numbers.add(pair)
                seen_keys.add(key)

    def licences_to_insert(self) -> list[Licence]:
        return [lic for _, lic, _ in self.pending.values()]

    def idempotency_records(self) -> list[tuple[str, IdempotencyRecord]]:
        return [
            (key, IdempotencyRecord("IssueLicence", self.keyed(cmd), lic.serial))
            for cmd, lic, key in self.pending.values()
        ]

    def outcomes(self) -> list[ImportOutcome]:
        for i, (_cmd, lic, _key) in self.pending.items():
            self.results[i] = ImportOutcome(
                self.lines[i], "accepted", licence_id=str(lic.identifier)
            )
        return [self.results[i] for i in range(len(self.lines))]


def _plain_request(body: Mapping[str, object]) -> bool:
    """Whether an issue command's fingerprint body is plain JSON (see ``canonical_json``):
    text values without lone surrogates, ASCII field names. Checked in a few C-level passes
    rather than by the generic walk, with the same answer for this shape of value."""
    fields = body["fields"]
    assert isinstance(fields, dict)
    values = [v for v in body.values() if v is not fields]
    values.extend(fields.values())
    if not all(type(k) is str and k.isascii() for k in fields):
        return False
    texts = [v for v in values if type(v) is str]
    if len(texts) != len(values):
        return False
    try:
        "".join(texts).encode()  # a lone surrogate anywhere fails here
    except UnicodeEncodeError:
        return False
    return True


def _check_idempotency_key(key: str, *, required: bool) -> str:
    if not key and not required:
        return ""
    if not IDEMPOTENCY_KEY.match(key):
        raise InvalidArgument.field(
            "idempotency_key",
            "must be 8 to 128 characters of letters, digits and . _ : -",
            "IDEMPOTENCY_KEY",
        )
    return key


def _replay(
    conn: Connection, caller: Caller, key: str, method: str, fingerprint: str
) -> str | None:
    """The serial an earlier identical request produced, or None; a changed body is refused."""
    record = repo.get_idempotency(conn, caller.code, key)
    if record is None:
        return None
    if record.method != method or record.request_sha256 != fingerprint:
        raise Conflict(_reused_message(key), reason="IDEMPOTENCY_KEY_REUSED")
    return record.serial


def _reused_message(key: str) -> str:
    return f"idempotency key {key!r} was already used for a different request"


def _number_taken(lic: Licence) -> AlreadyExists:
    return AlreadyExists(
        f"licence number {lic.licence_number!r} of type {lic.type_code} is already issued",
        reason="LICENCE_NUMBER_TAKEN",
    )


def _names(stored: StoredLicence, ident: LicenceIdentifier) -> bool:
    """Whether an identifier (of any existing version) names this stored licence."""
    lic = stored.licence
    return (
        lic.type_code == ident.type_code
        and lic.issuer_code == ident.issuer_code
        and ident.version <= lic.version
    )


def _not_found(ref: LicenceRef) -> NotFound:
    named = ref.licence_id or f"{ref.type_code}:{ref.licence_number}"
    return NotFound(f"no licence {named}", reason="LICENCE_NOT_FOUND")


def _optional_date(raw: str, field_name: str) -> date | None:
    return parse_date(raw.strip(), field_name) if raw.strip() else None


def _ref_json(ref: LicenceRef) -> list[str]:
    return [ref.licence_id, ref.type_code, ref.licence_number]
