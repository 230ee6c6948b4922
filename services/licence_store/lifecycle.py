"""The lifecycle of a licence, as its issuer drives it: issue, change, renew, change status.

Each use case is one unit of work: validate with the domain rules, sign the new version with
the issuing department's key, sign the act's status statement (chained to the licence's
previous one), persist both through the repositories, publish an invalidation.
Idempotency keys make retries safe: a retry with the same key and body answers the licence
as it is now; the same key with another body is refused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection

from services.common.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, parse_holder_number, validate_licence_type_code
from services.common.identity import Caller
from services.common.notify import ChangeNotifier
from services.common.signing import SigningKey, canonical_json, sha256_hex
from services.licence_store.domain.catalogue import LicenceType, parse_date
from services.licence_store.domain.licence import Action, Licence, Reason
from services.licence_store.domain.reading import LicenceRef
from services.licence_store.domain.statements import statements_of_acts
from services.licence_store.domain.stored import SignedVersion, StoredLicence
from services.licence_store.local_reader import licence_not_found, resolve_serial
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence import statements as status_repo
from services.licence_store.persistence.repository import IdempotencyRecord
from services.licence_store.queries import LicenceView, Queries
from services.licence_store.use_case import StoreParts, UseCase

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")


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


class Lifecycle(UseCase):
    """Issue, change, renew, suspend, reinstate, revoke and cancel licences."""

    def __init__(
        self,
        parts: StoreParts,
        vault: HolderVault,
        notifier: ChangeNotifier,
        queries: Queries,
    ) -> None:
        super().__init__(parts)
        self.vault = vault
        self.notifier = notifier
        self.queries = queries

    def keyed(self, cmd: IssueCommand) -> str:
        """The command's fingerprint, keyed: a stored fingerprint reveals nothing guessable."""
        return self.vault.mac(cmd.fingerprint.encode())

    def issue(self, caller: Caller, cmd: IssueCommand) -> LicenceView:
        """Issue one licence; a retry with the same idempotency key returns the same one."""
        key = check_idempotency_key(cmd.idempotency_key, required=True)
        licence = self.new_licence(caller, cmd)
        fingerprint = self.keyed(cmd)
        for attempt in (1, 2):
            try:
                outcome = self._issue_once(caller, key, fingerprint, licence)
                break
            except AlreadyExists:
                # A concurrent request took the key or the number first (perhaps a retry of
                # this very request, committed a moment ago): decide again, seeing it now.
                if attempt == 2:
                    raise
        if isinstance(outcome, str):  # a replay: answer with the licence as it is now
            return self.queries.get(caller, LicenceRef(), serial=outcome)
        self.notifier.notify()
        return self.queries.view(outcome)

    def _issue_once(
        self, caller: Caller, key: str, fingerprint: str, licence: Licence
    ) -> StoredLicence | str:
        """The stored new licence, or the serial of the one an earlier identical request made."""
        with self.db.transaction() as conn:
            replay = replayed_serial(conn, caller, key, "IssueLicence", fingerprint)
            if replay is not None:
                return replay
            if repo.find_serial_by_number(conn, licence.type_code, licence.licence_number):
                raise number_taken(licence)
            signer = self.keyring.signing_key(conn, licence.issuer_code)
            signed = self.sign(conn, licence, signer)
            acts = statements_of_acts(None, licence, signed.content_sha256, signer)
            repo.insert_licences(conn, [(licence, signed)], self.codec)
            status_repo.insert_statements(conn, acts)
            record = IdempotencyRecord("IssueLicence", fingerprint, licence.serial)
            repo.put_idempotency(conn, caller.code, [(key, record)], self.clock.now())
            return StoredLicence(licence, signed)

    def new_licence(
        self,
        caller: Caller,
        cmd: IssueCommand,
        licence_type_of: Callable[[str], LicenceType | None] | None = None,
    ) -> Licence:
        """Validate an issue command completely, without touching the database.

        ``licence_type_of`` looks types up (default: the catalogue cache); a batch passes one
        that remembers what it found, so the catalogue is consulted once per type."""
        type_code = validate_licence_type_code(cmd.type_code, "type_code")
        licence_type = (licence_type_of or self.cache.licence_type)(type_code)
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
            staff=caller.staff,
        )

    def sign(
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
            lic.change(lt, fields, holder_name, caller.code, at, reason, caller.staff)
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
            lic.renew(until, lt.default_validity_days, caller.code, at, reason, caller.staff)
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
            lic.apply(action, reason, caller.code, at, caller.staff)
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
        key = check_idempotency_key(idempotency_key, required=False)
        with self.db.transaction() as conn:
            replay = replayed_serial(conn, caller, key, method, fingerprint) if key else None
            if replay is not None:
                serial = replay
            else:
                serial = self._apply(conn, caller, ref, apply)
                if key:
                    record = IdempotencyRecord(method, fingerprint, serial)
                    repo.put_idempotency(conn, caller.code, [(key, record)], self.clock.now())
        self.notifier.notify()
        return self.queries.get(caller, LicenceRef(), serial=serial)

    def _apply(
        self,
        conn: Connection,
        caller: Caller,
        ref: LicenceRef,
        apply: Callable[[Licence, LicenceType, datetime], bool],
    ) -> str:
        serial = resolve_serial(conn, ref, self.codec)
        stored = repo.get_by_serial(conn, serial, self.codec, for_update=True)
        if stored is None:  # pragma: no cover - resolved a moment ago in this transaction
            raise licence_not_found(ref)
        licence = stored.licence
        if licence.issuer_code != caller.code:
            raise PermissionDenied(
                "only the issuing department may change this licence", reason="NOT_ISSUER"
            )
        licence_type = self.cache.licence_type(licence.type_code)
        assert licence_type is not None
        new_version = apply(licence, licence_type, self.clock.now())
        key = self.keyring.signing_key(conn, licence.issuer_code)
        signed = self.sign(conn, licence, key) if new_version else None
        # The act's signed status statement, chained after the newest one stored (even a
        # tampered one: the act is recorded, and the verdict stays CANNOT_CHECK, never VALID).
        previous = status_repo.head_link(conn, serial)
        content_sha256 = (signed or stored.signed).content_sha256
        acts = statements_of_acts(previous, licence, content_sha256, key)
        repo.update_licence(conn, licence, signed, self.codec)
        status_repo.insert_statements(conn, acts)
        return serial


# ---------------------------------------------------------------------------------- helpers


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


def check_idempotency_key(key: str, *, required: bool) -> str:
    if not key and not required:
        return ""
    if not IDEMPOTENCY_KEY.match(key):
        raise InvalidArgument.field(
            "idempotency_key",
            "must be 8 to 128 characters of letters, digits and . _ : -",
            "IDEMPOTENCY_KEY",
        )
    return key


def replayed_serial(
    conn: Connection, caller: Caller, key: str, method: str, fingerprint: str
) -> str | None:
    """The serial an earlier identical request produced, or None; a changed body is refused."""
    record = repo.get_idempotency(conn, caller.code, key)
    if record is None:
        return None
    if record.method != method or record.request_sha256 != fingerprint:
        raise Conflict(reused_message(key), reason="IDEMPOTENCY_KEY_REUSED")
    return record.serial


def reused_message(key: str) -> str:
    return f"idempotency key {key!r} was already used for a different request"


def number_taken(lic: Licence) -> AlreadyExists:
    return AlreadyExists(
        f"licence number {lic.licence_number!r} of type {lic.type_code} is already issued",
        reason="LICENCE_NUMBER_TAKEN",
    )


def _optional_date(raw: str, field_name: str) -> date | None:
    return parse_date(raw.strip(), field_name) if raw.strip() else None


def _ref_json(ref: LicenceRef) -> list[str]:
    return [ref.licence_id, ref.type_code, ref.licence_number]
