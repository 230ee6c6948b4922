"""Consent grants (授权用证): the holder grants, lists and revokes through the holder portal;
departments list the grants given to them.

A grant is signed by the portal's signing key over its terms with its own id inside (so it
cannot be copied under another id), stored, and appended to the tamper-evident log in the
same transaction; a revocation is logged too. The holder's side sees every use of a grant
and every refused attempt with its exact reason; :meth:`Consents.check` answers, for the
holder, whether a grant would authorise a given read and if not exactly why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.common import audit_log
from services.common.canonical import canonical_json
from services.common.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound
from services.common.holder_vault import HolderVault
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    mask_holder_number,
    parse_holder_number,
    validate_department_code,
    validate_licence_type_code,
)
from services.common.identity import Caller
from services.common.ids import time_ordered_id
from services.common.licence_ids import parse_licence_identifier
from services.common.paging import decode_token, encode_token, page_size
from services.licence_store.consent_gate import ConsentGate, check_grant_id
from services.licence_store.domain import consent as dc
from services.licence_store.domain.consent import ConsentGrant, ConsentState, Matter
from services.licence_store.lifecycle import check_idempotency_key, replayed_serial
from services.licence_store.persistence import consent as repo
from services.licence_store.persistence import repository as licences
from services.licence_store.persistence.repository import IdempotencyRecord
from services.licence_store.use_case import StoreParts, UseCase

DEFAULT_MAX_DAYS = 90
#: The idempotency record's method name for a grant (the keys are the licence store's).
GRANT_METHOD = "GrantConsent"


@dataclass(frozen=True)
class GrantTerms:
    """What the holder grants, as the portal sends it."""

    holder_number: str
    department_code: str
    type_codes: tuple[str, ...] = ()
    licence_id: str = ""
    item_code: str = ""
    case_number: str = ""
    expires_at: datetime | None = None
    valid_days: int = 0  # or: this many days from now
    idempotency_key: str = ""  # a retry with it gets the same grant back
    acting_person: str = ""  # an organisation's grant: its representative's ID number

    def fingerprint(self) -> bytes:
        """The terms as canonical JSON (without the key): what a retry must repeat."""
        body = {
            "holder_number": self.holder_number,
            "department_code": self.department_code,
            "type_codes": list(self.type_codes),
            "licence_id": self.licence_id,
            "item_code": self.item_code,
            "case_number": self.case_number,
            "expires_at": self.expires_at.isoformat() if self.expires_at else "",
            "valid_days": self.valid_days,
        }
        if self.acting_person:
            body["acting_person"] = self.acting_person
        return canonical_json(body)


@dataclass(frozen=True)
class GrantView:
    """A grant as answered: its state now, and (holder side) its uses, newest first."""

    grant: ConsentGrant
    state: ConsentState
    uses: tuple[Any, ...] = ()


@dataclass(frozen=True)
class CheckAnswer:
    """Whether a grant authorises a read; the holder's side is told exactly why not."""

    allowed: bool
    reason: str
    view: GrantView | None


class Consents(UseCase):
    """GrantConsent, ListConsents, RevokeConsent, CheckConsent."""

    def __init__(
        self,
        parts: StoreParts,
        vault: HolderVault,
        gate: ConsentGate,
        max_days: int = DEFAULT_MAX_DAYS,
    ) -> None:
        super().__init__(parts)
        self.vault = vault
        self.gate = gate
        self.max_days = max_days

    # ------------------------------------------------------------------------------ grant

    def grant(self, caller: Caller, terms: GrantTerms) -> GrantView:
        """Sign, store and log a new grant of the holder the portal names; a retry with the
        same idempotency key answers the grant the first request made, as it is now."""
        key = check_idempotency_key(terms.idempotency_key, required=False)
        # Keyed: a stored fingerprint must not let anyone test guesses of a holder number.
        fingerprint = self.vault.mac(terms.fingerprint()) if key else ""
        try:
            return self._grant_once(caller, terms, key, fingerprint)
        except AlreadyExists:
            if not key:
                raise
            # A concurrent request took the key first (perhaps this very request, retried
            # while the first try was still running): decide again, seeing it now.
            return self._grant_once(caller, terms, key, fingerprint)

    def _grant_once(
        self, caller: Caller, terms: GrantTerms, key: str, fingerprint: str
    ) -> GrantView:
        now = self.clock.now()
        holder = parse_holder_number(terms.holder_number, "holder_number")
        granted_by = acting_for(holder, terms.acting_person)
        department = self._department(terms.department_code)
        types = self._types(terms.type_codes, holder)
        dc.check_terms(
            types,
            terms.licence_id,
            terms.item_code,
            terms.case_number,
            terms.expires_at,
            now,
            self.max_days,
            terms.valid_days,
        )
        expires_at = terms.expires_at or now + timedelta(days=terms.valid_days)
        with self.db.transaction() as conn:
            earlier = replayed_serial(conn, caller, key, GRANT_METHOD, fingerprint) if key else None
            first = repo.get_grant(conn, earlier) if earlier else None
            if first is not None:
                return GrantView(first, first.state(now))
            licence_id, serial, types = self._licence(conn, terms.licence_id, holder, types)
            grant = ConsentGrant(
                grant_id=time_ordered_id(dc.GRANT_ID_PREFIX, now),
                holder_key=self.vault.index(holder),
                holder_masked=mask_holder_number(holder.value, holder.kind),
                holder_kind=holder.kind.value,
                department_code=department,
                type_codes=types,
                licence_id=licence_id,
                licence_serial=serial,
                item_code=terms.item_code.strip(),
                case_number=terms.case_number.strip(),
                granted_at=now,
                expires_at=expires_at,
                portal_code=caller.code,
                granted_by=granted_by,
            )
            signer = self.keyring.signing_key(conn, caller.code)
            body = canonical_json(replace(grant, key_id=signer.key_id).body())
            grant = replace(grant, key_id=signer.key_id, signature=signer.sign(body))
            repo.insert_grant(conn, grant)
            audit_log.append(conn, [dc.grant_entry(grant)], now)
            if key:
                record = IdempotencyRecord(GRANT_METHOD, fingerprint, grant.grant_id)
                licences.put_idempotency(conn, caller.code, [(key, record)], now)
        return GrantView(grant, grant.state(now))

    def _department(self, code: str) -> str:
        code = validate_department_code(code, "department_code")
        if self.cache.department(code) is None:
            raise InvalidArgument.field(
                "department_code", f"no registered department {code}", "UNKNOWN_DEPARTMENT"
            )
        return code

    def _types(self, codes: Sequence[str], holder: HolderNumber) -> tuple[str, ...]:
        violations: list[FieldViolation] = []
        found: list[str] = []
        for i, raw in enumerate(codes):
            code = validate_licence_type_code(raw, f"type_codes[{i}]")
            lt = self.cache.licence_type(code)
            if lt is None:
                violations.append(
                    FieldViolation(f"type_codes[{i}]", f"no licence type {code}", "UNKNOWN_TYPE")
                )
            elif lt.holder_kind is not holder.kind:
                violations.append(
                    FieldViolation(
                        f"type_codes[{i}]",
                        f"{code} is held by {lt.holder_kind.value}s, not by this holder's kind",
                        "HOLDER_KIND",
                    )
                )
            elif code not in found:
                found.append(code)
        if violations:
            raise InvalidArgument(violations=violations)
        return tuple(sorted(found))

    def _licence(
        self, conn: Any, licence_id: str, holder: HolderNumber, types: tuple[str, ...]
    ) -> tuple[str, str, tuple[str, ...]]:
        """(licence id, serial, types) of a grant for one licence: the holder's own only."""
        if not licence_id.strip():
            return "", "", types
        ident = parse_licence_identifier(licence_id.strip(), "licence_id")
        stored = licences.get_by_serial(conn, ident.serial, self.codec)
        lic = stored.licence if stored is not None else None
        if lic is None or lic.holder.value != holder.value or lic.type_code != ident.type_code:
            raise NotFound(
                f"no licence {licence_id.strip()} of this holder", reason="LICENCE_NOT_FOUND"
            )
        return licence_id.strip(), ident.serial, (ident.type_code,)

    # ----------------------------------------------------------------------------- revoke

    def revoke(
        self, caller: Caller, grant_id: str, holder_number: str, acting_person: str = ""
    ) -> GrantView:
        """The holder withdraws a grant, at once (a revoked one stays revoked); an
        organisation's representative acting for it is kept, masked."""
        revoked_by = acting_for(parse_holder_number(holder_number, "holder_number"), acting_person)
        grant = self._holders_grant(grant_id, holder_number)
        now = self.clock.now()
        if grant.revoked_at is None:
            grant = replace(grant, revoked_at=now, revoked_by=revoked_by)
            with self.db.transaction() as conn:
                if repo.set_revoked(conn, grant.grant_id, now, revoked_by):
                    audit_log.append(conn, [dc.revocation_entry(grant)], now)
        return self._views([grant], uses=True)[0]

    def _holders_grant(self, grant_id: str, holder_number: str) -> ConsentGrant:
        """The grant, if it is this holder's (else NOT_FOUND, as for none)."""
        grant_id = check_grant_id(grant_id, "grant_id")
        holder = parse_holder_number(holder_number, "holder_number")
        if not grant_id:
            raise InvalidArgument.field("grant_id", "is required", "REQUIRED")
        with self.db.read() as conn:
            grant = repo.get_grant(conn, grant_id)
        if grant is None or grant.holder_key != self.vault.index(holder):
            raise NotFound(f"no consent {grant_id} of this holder", reason=dc.NOT_FOUND)
        return grant

    # ------------------------------------------------------------------------------- list

    def list_for(
        self, caller: Caller, holder_number: str, size: int, token: str
    ) -> tuple[list[GrantView], str]:
        """Holder side (the portal names the holder): the holder's grants with their uses.
        Department side: the grants given to the caller (no uses: those are the holder's)."""
        limit = page_size(size, 50, 200)
        after = decode_token(token)
        portal = self.gate.is_portal(caller.code)
        if portal and not holder_number.strip():
            raise InvalidArgument.field(
                "holder_number", "the holder portal lists one holder's consents", "REQUIRED"
            )
        if not portal and holder_number.strip():
            raise InvalidArgument.field(
                "holder_number",
                "only the holder portal lists a holder's consents; leave it empty for the "
                "consents given to your department",
                "NOT_ALLOWED",
            )
        with self.db.read() as conn:
            if portal:
                key = self.vault.index(parse_holder_number(holder_number, "holder_number"))
                grants = repo.grants_where(conn, holder_key=key, after=after, limit=limit + 1)
            else:
                grants = repo.grants_where(
                    conn, department_code=caller.code, after=after, limit=limit + 1
                )
        more = len(grants) > limit
        grants = grants[:limit]
        token = encode_token(grants[-1].grant_id) if more else ""
        return self._views(grants, uses=portal), token

    def _views(self, grants: Sequence[ConsentGrant], *, uses: bool) -> list[GrantView]:
        now = self.clock.now()
        found: dict[str, list[Any]] = {}
        if uses:
            with self.db.read() as conn:
                found = repo.uses_of(conn, [g.grant_id for g in grants])
        return [GrantView(g, g.state(now), tuple(found.get(g.grant_id, ()))) for g in grants]

    # ------------------------------------------------------------------------------ check

    def check(
        self,
        grant_id: str,
        holder_number: str,
        department_code: str,
        type_code: str,
        matter: Matter,
    ) -> CheckAnswer:
        """Holder side: whether the grant authorises this department to read this type for
        this matter, and if not, exactly why (its own reason for each kind of problem)."""
        department = validate_department_code(department_code, "department_code")
        code = validate_licence_type_code(type_code, "type_code") if type_code.strip() else ""
        try:
            grant = self._holders_grant(grant_id, holder_number)
        except NotFound:
            return CheckAnswer(False, dc.NOT_FOUND, None)
        if not self.gate.signature_holds(grant):
            reason = dc.SIGNATURE_INVALID
        else:
            reason = dc.refusal(
                grant,
                holder_key=grant.holder_key,
                department_code=department,
                type_code=code,
                matter=matter,
                now=self.clock.now(),
            )
        view = self._views([grant], uses=False)[0]
        return CheckAnswer(not reason, reason or dc.VALID, view)


def acting_for(holder: HolderNumber, acting_person: str) -> str:
    """The masked ID number of the representative acting for an organisation ("" if none
    named); refused for a person's own consent and for a malformed ID number."""
    if not acting_person.strip():
        return ""
    if holder.kind is not HolderKind.ORGANISATION:
        raise InvalidArgument.field(
            "acting_person",
            "only an organisation's consent names a representative acting for it",
            "ACTING_PERSON_NOT_ALLOWED",
        )
    person = parse_holder_number(acting_person, "acting_person")
    if person.kind is not HolderKind.PERSON:
        raise InvalidArgument.field(
            "acting_person", "must be a person's ID number (GB 11643)", "HOLDER_KIND"
        )
    return mask_holder_number(person.value, person.kind)
