"""The consent gate: whether a read by holder number may include consent-required data.

Every read of a person's licences *by holder number* (``ListLicencesByHolder``,
``VerifyByHolder``, ``CheckMaterials``, an assistance request) asks the gate first, before
anything of the person is read, so the answer can depend only on what the caller sent and on
the grant it names — never on whether the person holds such a licence. Types the caller named
explicitly that need consent are refused as a whole (``PERMISSION_DENIED CONSENT_REQUIRED``);
types it did not name (an empty filter: "all types") are left out unless a grant covers them.

A grant read back is trusted only if the portal's signature over its terms (its id included)
holds under the portal's key, so a grant edited or copied in the database authorises nothing.
Each use of a grant, and each refused attempt naming one, is recorded against it: the holder
sees them, with the exact reason, through the portal.

The two lookups by a person's number (``VerifyByHolder``, ``ListLicencesByHolder``) also ask
the gate before reading (:meth:`ConsentGate.lookup_allowed`) and tell it whether the answer
found anything (:meth:`ConsentGate.looked_up`): a department's misses are budgeted
(:mod:`services.common.lookup_budget`).
"""

from __future__ import annotations

from collections.abc import Sequence

from services.common.canonical import canonical_json
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import InvalidArgument
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, HolderNumber
from services.common.lookup_budget import LookupBudget
from services.common.roles import Role
from services.common.signing import PublicKey
from services.licence_store.catalogue import CatalogueCache
from services.licence_store.domain.consent import (
    SIGNATURE_INVALID,
    USED,
    ConsentGrant,
    ConsentPass,
    Matter,
    consent_required,
    needs_consent,
    refusal,
)
from services.licence_store.keyring import PublicKeys
from services.licence_store.persistence import consent as repo

MAX_GRANT_ID = 32


def check_grant_id(grant_id: str, field: str = "consent_grant_id") -> str:
    """A grant id as sent ("" when none), or INVALID_ARGUMENT naming ``field``."""
    text = grant_id.strip()
    if len(text) > MAX_GRANT_ID or not text.isascii() or (text and not text.isalnum()):
        raise InvalidArgument.field(field, "is not a consent grant id", "FORMAT")
    return text


class ConsentGate:
    """Reads grants (checking the portal's signature), decides reads, records uses."""

    def __init__(
        self,
        db: Database,
        cache: CatalogueCache,
        public_keys: PublicKeys,
        clock: Clock,
        vault: HolderVault,
        lookups: LookupBudget | None = None,
    ) -> None:
        self.db = db
        self.cache = cache
        self.public_keys = public_keys
        self.clock = clock
        self.vault = vault
        self.lookups = lookups

    def _budgeted(self, caller_code: str, holder: HolderNumber) -> bool:
        return (
            self.lookups is not None
            and holder.kind is HolderKind.PERSON
            and not self.is_portal(caller_code)
        )

    def lookup_allowed(self, caller_code: str, holder: HolderNumber) -> None:
        """Before a lookup by ``holder``'s number: RESOURCE_EXHAUSTED when the department has
        spent today's lookups that find nothing (decided by its own count alone)."""
        if self.lookups is not None and self._budgeted(caller_code, holder):
            self.lookups.check(caller_code)

    def looked_up(self, caller_code: str, holder: HolderNumber, found: bool) -> None:
        """After a lookup by ``holder``'s number: a miss is counted against the department."""
        if not found and self.lookups is not None and self._budgeted(caller_code, holder):
            self.lookups.missed(caller_code)

    def is_portal(self, code: str) -> bool:
        """Whether ``code`` is a holder portal (it serves holders their own data)."""
        dept = self.cache.department(code)
        return dept is not None and Role.HOLDER_PORTAL in dept.roles

    def load(self, grant_id: str) -> tuple[ConsentGrant | None, bool]:
        """(the grant, whether its signature holds) — (None, False) when there is none."""
        with self.db.read() as conn:
            grant = repo.get_grant(conn, grant_id)
        if grant is None:
            return None, False
        return grant, self.signature_holds(grant)

    def signature_holds(self, grant: ConsentGrant) -> bool:
        """Whether the portal's signature over the grant's terms holds under its key."""
        record = self.public_keys.get(grant.key_id)
        if record is None or record.department_code != grant.portal_code:
            return False
        if not record.valid_at(grant.granted_at):
            return False
        key = PublicKey(record.key_id, record.algorithm, record.public_key)
        return key.verify(canonical_json(grant.body()), grant.signature)

    def authorise(
        self,
        caller_code: str,
        holder: HolderNumber,
        asked: Sequence[str] | None,
        matter: Matter,
        grant_id: str,
        *,
        channel: str,
        strict: bool | None = None,
        item_consent: bool = False,
    ) -> ConsentPass:
        """What a read by ``holder``'s number may include of consent-required data.

        ``asked``: the type codes the read covers (None: every type, as an empty filter means);
        ``strict``: refuse the whole read if one of them is not covered (default: when the
        caller named them) rather than leave it out; ``item_consent``: the read is an
        assistance item marked consent required. The refusal is the department's one answer
        for every kind of bad grant.
        """
        grant_id = check_grant_id(grant_id)
        if self.is_portal(caller_code):
            return ConsentPass()
        needed = self._needed(caller_code, asked)
        if not needed and not item_consent:
            return ConsentPass()
        grant, signed = self.load(grant_id) if grant_id else (None, False)
        reasons = {t: self._reason(grant, signed, holder, caller_code, t, matter) for t in needed}
        if item_consent:
            reasons[""] = self._reason(grant, signed, holder, caller_code, "", matter)
        refused = {t: r for t, r in reasons.items() if r}
        strict = bool(asked) if strict is None else strict
        if refused and (strict or item_consent):
            self._attempt(grant, caller_code, channel, next(iter(refused.values())))
            raise consent_required(t for t in reasons if t)
        covered = frozenset(t for t in needed if t not in refused)
        if grant is not None and not covered and refused:
            self._attempt(grant, caller_code, channel, next(iter(refused.values())))
        return ConsentPass(
            grant_id=grant.grant_id if grant is not None and (covered or item_consent) else "",
            covered=covered,
            left_out=frozenset(refused) - {""},
            licence_serial=grant.licence_serial if grant is not None and covered else "",
        )

    def _needed(self, caller_code: str, asked: Sequence[str] | None) -> set[str]:
        portal = False  # the portal returned earlier
        if asked is None:
            types = self.cache.licence_types()
        else:
            types = [lt for c in asked if (lt := self.cache.licence_type(c)) is not None]
        return {lt.type_code for lt in types if needs_consent(lt, caller_code, portal)}

    def _reason(
        self,
        grant: ConsentGrant | None,
        signed: bool,
        holder: HolderNumber,
        caller_code: str,
        type_code: str,
        matter: Matter,
    ) -> str:
        if grant is not None and not signed:
            return SIGNATURE_INVALID
        return refusal(
            grant,
            holder_key=self.vault.index(holder),
            department_code=caller_code,
            type_code=type_code,
            matter=matter,
            now=self.clock.now(),
        )

    def _attempt(
        self, grant: ConsentGrant | None, caller_code: str, channel: str, reason: str
    ) -> None:
        """Record a refused attempt against the grant it named (the holder sees why)."""
        if grant is not None:
            self.record(grant.grant_id, caller_code, channel, "refused", reason)

    def used(self, passed: ConsentPass, caller_code: str, channel: str, what: str) -> None:
        """Record a use of the grant ``passed`` carries (nothing when it carries none)."""
        if passed.grant_id:
            self.record(passed.grant_id, caller_code, channel, what, USED)

    def record(
        self, grant_id: str, caller_code: str, channel: str, what: str, outcome: str
    ) -> None:
        """Record a use or refused attempt durably before returning."""
        with self.db.transaction() as conn:
            repo.add_use(conn, grant_id, caller_code, channel, what, outcome, self.clock.now())
