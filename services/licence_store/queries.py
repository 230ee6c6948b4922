"""Reading licences for their issuers and for departments with a reason: get, history, list
by holder, events; every read of a holder's data leaves an access record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.common.access_log import AccessLog, AccessRecord
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import InvalidArgument, NotFound, PermissionDenied
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, parse_holder_number, validate_licence_type_code
from services.common.identity import Caller
from services.common.licence_ids import parse_licence_identifier
from services.common.limits import fitting
from services.common.paging import decode_token, encode_token, page_size
from services.common.purpose import Why, why_in
from services.licence_store.catalogue import CatalogueCache
from services.licence_store.consent_gate import ConsentGate, check_grant_id
from services.licence_store.domain.consent import ConsentPass, Matter
from services.licence_store.domain.effective import Effective
from services.licence_store.domain.grants import (
    NOTHING,
    WHOLE,
    Access,
    GrantKey,
    ReadGrant,
    check_purpose,
    purpose_allowed,
)
from services.licence_store.domain.licence import Licence, Status
from services.licence_store.domain.reading import LicenceRef
from services.licence_store.domain.stored import StoredEvent, StoredLicence
from services.licence_store.local_reader import licence_not_found, resolve_serial
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.read_rules import ReadRules, Shown

#: A page of recent events (WatchEvents with newest_first): by default, and at most.
EVENTS_PAGE, MAX_EVENTS_PAGE = 50, 500


@dataclass(frozen=True)
class LicenceView:
    """A licence as answered: stored state, catalogue names, and the status right now."""

    stored: StoredLicence
    type_name: str
    issuer_name: str
    effective: Effective
    shown: Shown | None = None  # what the caller may see of the content (None: all of it)


@dataclass(frozen=True)
class Page:
    """One page of licences and the token for the next one ("" at the end)."""

    items: list[LicenceView]
    next_token: str


@dataclass(frozen=True)
class History:
    """A page of a licence's history: versions (oldest first), then events, and the token for
    the next page ("" at the end)."""

    versions: list[LicenceView]
    events: list[StoredEvent]
    next_token: str = ""


class Queries:
    """Licences as answered to callers of the licence store."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        cache: CatalogueCache,
        codec: LicenceCodec,
        vault: HolderVault,
        access_log: AccessLog,
        consent: ConsentGate,
    ) -> None:
        self.db = db
        self.consent = consent
        self.clock = clock
        self.cache = cache
        self.codec = codec
        self.vault = vault
        self.access_log = access_log
        self.rules = ReadRules(cache)

    def get(
        self,
        caller: Caller,
        ref: LicenceRef,
        version: int = 0,
        *,
        serial: str = "",
        why: Why | None = None,
        consent_grant_id: str = "",
    ) -> LicenceView:
        """A licence at its current version, or at ``version``.

        With ``why``, a caller's read: the purpose is required for a person's licence and
        checked against the catalogue, the read rules decide what is shown (a licence the
        caller may not read is NOT_FOUND, as one that does not exist), and the holder's access
        record keeps the read. Without it, the store's own answer to a write. A licence of a
        consent-required type the rules do not show is shown as the holder's grant
        ``consent_grant_id`` covers it (:meth:`_by_consent`), the use recorded against it.
        """
        if version < 0 or version > 999:
            raise InvalidArgument.field("version", "must be between 0 and 999", "OUT_OF_RANGE")
        grant_id = check_grant_id(consent_grant_id)
        if why is not None:
            why = self.why_for(caller, ref, why)
        passed = ConsentPass()
        with self.db.read() as conn:
            serial = serial or resolve_serial(conn, ref, self.codec)
            current = repo.get_by_serial(conn, serial, self.codec)
            if why is not None and grant_id and current is not None:
                access, passed = self._by_consent(caller, ref, current.licence, why, grant_id)
            else:
                access = self._access(caller, ref, current, why)
            stored = repo.get_version(conn, serial, version, self.codec) if version else current
        if stored is None:
            raise NotFound(f"licence has no version {version}", reason="VERSION_NOT_FOUND")
        view = self.view(stored, access)
        if why is not None and (why.stated or _personal(view)):
            self._log_reads(caller, [view], f"licence data{passed.note}", why)
        if passed.grant_id:
            self.consent.used(passed, caller.code, "licence_store", "read by reference")
        return view

    def _by_consent(
        self, caller: Caller, ref: LicenceRef, licence: Licence, why: Why, grant_id: str
    ) -> tuple[Access, ConsentPass]:
        """What a read naming the holder's grant may show: the read rules' answer when they
        show anything (the grant is not used); else, for a consent-required type the grant
        covers (and, for a grant of one licence, this licence), its fields with sensitive ones
        masked. A grant that does not cover it is NOT_FOUND, as for no licence (the refused
        attempt is recorded against the grant: the holder sees why)."""
        access = self.rules.access(caller, licence)
        if access.any:
            return access, ConsentPass()
        try:
            passed = self.consent.authorise(
                caller.code,
                licence.holder,
                [licence.type_code],
                Matter(case_number=why.case_number),
                grant_id,
                channel="licence_store",
            )
        except PermissionDenied:
            raise licence_not_found(ref) from None
        if licence.type_code not in passed.covered or not passed.admits(
            licence.type_code, licence.serial
        ):
            raise licence_not_found(ref)
        return self.rules.consented(licence), passed

    def _access(
        self, caller: Caller, ref: LicenceRef, current: StoredLicence | None, why: Why | None
    ) -> Access:
        """What a caller's read may show (raise NOT_FOUND, as for no licence, if nothing)."""
        if why is None:
            return WHOLE
        access = self.rules.access(caller, current.licence) if current else NOTHING
        if not access.any:
            raise licence_not_found(ref)
        return access

    def history(
        self,
        caller: Caller,
        ref: LicenceRef,
        why: Why | None = None,
        size: int = 0,
        token: str = "",
        measure: tuple[Callable[[LicenceView], int], Callable[[StoredEvent], int]] | None = None,
        consent_grant_id: str = "",
    ) -> History:
        """A page of a licence's versions, then its events (``why`` and ``consent_grant_id``
        as for :meth:`get`): at most ``size`` versions, then — once every version has been
        given — at most ``size`` events; with ``measure`` (a version's and an event's encoded
        size) the page also stops before the answer's byte budget. A page with versions is
        recorded as a read."""
        grant_id = check_grant_id(consent_grant_id)
        if why is not None:
            why = self.why_for(caller, ref, why)
        limit = page_size(size, 100, 1000)
        part, after = _history_position(decode_token(token))
        passed = ConsentPass()
        with self.db.read() as conn:
            serial = resolve_serial(conn, ref, self.codec)
            current = repo.get_by_serial(conn, serial, self.codec)
            if why is not None and grant_id and current is not None:
                access, passed = self._by_consent(caller, ref, current.licence, why, grant_id)
            else:
                access = self._access(caller, ref, current, why)
            versions = (
                repo.list_versions(conn, serial, self.codec, after, limit + 1)
                if part == "v"
                else []
            )
            more_versions = len(versions) > limit
            versions = versions[:limit]
            events: list[StoredEvent] = []
            if not more_versions:
                cursor = after if part == "e" else 0
                events = repo.events_after(conn, cursor, (), limit + 1, serial=serial)
        views = [self.view(v, access) for v in versions]
        page = _history_page(views, events, limit, more_versions, measure)
        if why is not None and page.versions and (why.stated or _personal(page.versions[-1])):
            self._log_reads(caller, page.versions[-1:], f"licence history{passed.note}", why)
        if passed.grant_id and page.versions:
            self.consent.used(passed, caller.code, "licence_store", "history by reference")
        return page

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
                    staff=caller.staff,
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
        consent_grant_id: str = "",
        measure: Callable[[LicenceView], int] | None = None,
    ) -> Page:
        """A holder's licences, by any accepted form of the holder's number; a citizen's
        need ``why``, and only types whose purposes allow it are listed. Consent-required
        types need the holder's grant (asked by name without one: CONSENT_REQUIRED; not
        asked by name: left out), decided before anything is read. With ``measure`` (a
        licence's encoded size) the page also stops before the answer's byte budget, and
        only what it holds is recorded as read."""
        holder = parse_holder_number(holder_number, "holder_number")
        person = holder.kind is HolderKind.PERSON
        why = why_in(why.purpose, why.case_number, required=person) if why else Why()
        codes = [
            validate_licence_type_code(c, f"type_codes[{i}]") for i, c in enumerate(type_codes)
        ]
        limit = page_size(size, 50, 500)
        after = decode_token(token)
        self.consent.lookup_allowed(caller.code, holder)
        passed = self.consent.authorise(
            caller.code,
            holder,
            codes or None,
            Matter(case_number=why.case_number),
            consent_grant_id,
            channel="licence_store",
        )
        with self.db.read() as conn:
            rows = repo.list_by_holder(conn, holder, codes, statuses, after, limit + 1, self.codec)
        more = len(rows) > limit
        rows = rows[:limit]
        next_token = encode_token(rows[-1].licence.serial) if more else ""
        grants = self.cache.read_grants()
        views = [
            self.view(r, access)
            for r in rows
            if passed.admits(r.licence.type_code, r.licence.serial)
            and _allows(grants, caller, r.licence.type_code, why)
            and (access := self._listed_access(caller, r.licence, passed)).any
        ]
        kept = fitting([measure(v) for v in views]) if measure is not None else len(views)
        if kept < len(views):
            views = views[:kept]
            next_token = encode_token(views[-1].stored.licence.serial)
        page = Page(views, next_token)
        self.consent.looked_up(caller.code, holder, bool(views) or bool(token))
        if person or why.stated:
            self._log_reads(caller, page.items, f"listed by holder number{passed.note}", why)
        self.consent.used(passed, caller.code, "licence_store", "listed by holder number")
        return page

    def _listed_access(self, caller: Caller, licence: Licence, passed: ConsentPass) -> Access:
        """What a listing shows of ``licence``: the read rules' answer, or, for a type the
        holder's consent covers, its fields with sensitive ones masked."""
        access = self.rules.access(caller, licence)
        if not access.any and licence.type_code in passed.covered:
            return self.rules.consented(licence)
        return access

    def why_for(self, caller: Caller, ref: LicenceRef, why: Why) -> Why:
        """``why`` validated for reading the licence ``ref`` names: required when its type's
        holders are people, and a purpose the catalogue allows this department for the type.
        Decided from the type alone, before anything is read (no answer depends on whether
        the licence exists)."""
        type_code = _type_code(ref)
        lt = self.cache.licence_type(type_code) if type_code else None
        person = lt is not None and lt.holder_kind is HolderKind.PERSON
        why = why_in(why.purpose, why.case_number, required=person)
        if lt is not None and (person or why.purpose):
            check_purpose(self.cache.read_grants(), caller.code, lt.type_code, why.purpose)
        return why

    def watchable(self, caller: Caller, type_codes: Sequence[str]) -> list[str]:
        """The licence types whose events ``caller`` may follow, of those asked (all when
        none are asked): types it issues or is granted to read (for WatchEvents)."""
        codes = [
            validate_licence_type_code(c, f"type_codes[{i}]") for i, c in enumerate(type_codes)
        ]
        allowed = self.rules.watchable(caller)
        return sorted(allowed & set(codes)) if codes else sorted(allowed)

    def events_after(self, cursor: int, type_codes: Sequence[str], limit: int) -> list[StoredEvent]:
        """Events after ``cursor`` of the given types (none: no events)."""
        if cursor < 0:
            raise InvalidArgument.field("after_cursor", "must not be negative", "OUT_OF_RANGE")
        if not type_codes:
            return []
        codes = [
            validate_licence_type_code(c, f"type_codes[{i}]") for i, c in enumerate(type_codes)
        ]
        with self.db.read() as conn:
            return repo.events_after(conn, cursor, codes, limit)

    def events_before(
        self, cursor: int, type_codes: Sequence[str], limit: int
    ) -> list[StoredEvent]:
        """A page of the newest events of the given types before ``cursor`` (0: from the
        newest), newest first (none asked: no events)."""
        if cursor < 0:
            raise InvalidArgument.field("before_cursor", "must not be negative", "OUT_OF_RANGE")
        if not 0 <= limit <= MAX_EVENTS_PAGE:
            raise InvalidArgument.field(
                "limit",
                f"must be 0 (the default, {EVENTS_PAGE}) to {MAX_EVENTS_PAGE}",
                "OUT_OF_RANGE",
            )
        if not type_codes:
            return []
        with self.db.read() as conn:
            return repo.events_before(conn, cursor or None, type_codes, limit or EVENTS_PAGE)

    def names(self, lic: Licence) -> tuple[str, str]:
        """(licence type name, issuer name) from the catalogue."""
        lt = self.cache.licence_type(lic.type_code)
        dept = self.cache.department(lic.issuer_code)
        return (lt.name if lt else "", dept.name if dept else "")

    def view(self, stored: StoredLicence, access: Access = WHOLE) -> LicenceView:
        """A stored licence as answered: catalogue names, its status right now, and what
        ``access`` shows of its content."""
        type_name, issuer_name = self.names(stored.licence)
        return LicenceView(
            stored=stored,
            type_name=type_name,
            issuer_name=issuer_name,
            effective=stored.licence.effective_status(self.clock.now()),
            shown=self.rules.shown(stored.licence, access),
        )


def _type_code(ref: LicenceRef) -> str:
    """The licence type a reference names ("" when it names none well-formed)."""
    if ref.licence_id:
        return parse_licence_identifier(ref.licence_id, "licence.licence_id").type_code
    return ref.type_code.strip()


def _personal(view: LicenceView) -> bool:
    return view.stored.licence.holder.kind is HolderKind.PERSON


def _allows(grants: dict[GrantKey, ReadGrant], caller: Caller, type_code: str, why: Why) -> bool:
    """Whether the catalogue allows ``why`` for this department and licence type."""
    return purpose_allowed(grants, caller.code, type_code, why.purpose) if why.purpose else True


def _history_position(position: str) -> tuple[str, int]:
    """("v", last version given) or ("e", last event cursor given) from a decoded token."""
    if not position:
        return "v", 0
    part, _, number = position.partition(":")
    if part not in ("v", "e") or not number.isdigit():
        raise InvalidArgument.field(
            "page_token", "is not a token returned by a previous page", "PAGE_TOKEN"
        )
    return part, int(number)


def _history_page(
    versions: list[LicenceView],
    events: list[StoredEvent],
    limit: int,
    more_versions: bool,
    measure: tuple[Callable[[LicenceView], int], Callable[[StoredEvent], int]] | None,
) -> History:
    """The leading versions and events that fit one answer, and where the next page starts."""
    more_events = len(events) > limit
    events = events[:limit]
    if measure is not None:
        sizes = [measure[0](v) for v in versions] + [measure[1](e) for e in events]
        kept = fitting(sizes)
        if kept < len(versions):
            versions, events, more_versions = versions[:kept], [], True
        elif kept < len(sizes):
            if kept == len(versions):  # every version fits, no event: events start next page
                return History(versions, [], encode_token("e:0"))
            events, more_events = events[: kept - len(versions)], True
    if more_versions:
        return History(versions, [], encode_token(f"v:{versions[-1].stored.licence.version}"))
    if more_events:
        return History(versions, events, encode_token(f"e:{events[-1].cursor}"))
    return History(versions, events)
