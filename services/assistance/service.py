"""The assistance service: catalogue, requests within time limits, supervision, access records,
and notification-commitments.

Licence data is read only through the licence store's read interface. A request's answer and
the holder's access record for it are written in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from services.assistance.commitments import CommitmentBook
from services.assistance.domain.answers import best_licence, licence_values
from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.domain.items import LICENCE_FACTS, AssistanceItem, Procedure
from services.assistance.domain.requests import (
    AssistanceRequest,
    DecisionSeal,
    RequestStatus,
    check_case,
    decision_body,
    decision_entry,
    minimal_answer,
    new_request_id,
)
from services.assistance.oversight import Oversight
from services.assistance.persistence import repository as repo
from services.assistance.queue import pending_page
from services.assistance.request_checks import (
    check_id,
    check_key,
    consent_for,
    same_request,
)
from services.common import audit_log
from services.common.access_log import AccessRecord, insert_records
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.holder_vault import HolderVault
from services.common.identifiers import parse_holder_number
from services.common.identity import Caller
from services.common.ids import change_seq
from services.common.notify import ChangeNotifier
from services.common.paging import decode_token, encode_token, page_after, page_size
from services.common.roles import Role
from services.common.signing import SigningKey
from services.licence_store.domain.catalogue import check_text
from services.licence_store.reader import ConsentChecker, LicenceReader

ITEM_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class ItemFilter:
    """ListItems filters (all optional)."""

    provider_code: str = ""
    requester_code: str = ""
    procedure: Procedure | None = None
    text: str = ""


class DecisionKeys(Protocol):
    """Where the key that signs decisions comes from."""

    def signing_key(self) -> SigningKey:
        """The current signing key (made on first use)."""
        ...


class AssistanceService(CommitmentBook, Oversight):
    """Administrative assistance between departments (notification-commitments: in
    :class:`~services.assistance.commitments.CommitmentBook`)."""

    def __init__(
        self,
        db: Database,
        reader: LicenceReader,
        clock: Clock,
        calendar: WorkingCalendar,
        vault: HolderVault,
        decision_keys: DecisionKeys | None = None,
        *,
        consent: ConsentChecker,
    ) -> None:
        """``decision_keys``: the key every decision is signed with (the verifier's receipt
        key, published by GetIssuerKeys); without it decisions are logged unsigned."""
        self.db = db
        self.decision_keys = decision_keys
        self.reader = reader
        self.consent = consent
        self.clock = clock
        self.calendar = calendar
        self.vault = vault
        self.notifier = ChangeNotifier()
        self._items: dict[str, AssistanceItem] = {}
        self._items_at = -1e9

    # --------------------------------------------------------------------------- catalogue

    def register_item(self, item: AssistanceItem) -> AssistanceItem:
        """Publish (or replace) an item; its licence fields must exist in the type's schema."""
        self._check_provider(item)
        with self.db.transaction() as conn:
            repo.save_item(conn, item, self.clock.now())
        return item

    def _check_provider(self, item: AssistanceItem) -> None:
        if self.reader.department(item.provider_code) is None:
            raise InvalidArgument.field(
                "item.provider_code",
                f"{item.provider_code} is not a registered department",
                "UNKNOWN_DEPARTMENT",
            )
        if not item.licence_type_code:
            return
        lt = self.reader.licence_type(item.licence_type_code)
        if not lt.may_issue(item.provider_code):
            raise InvalidArgument.field(
                "item.provider_code",
                f"{item.provider_code} does not issue {lt.name}",
                "NOT_HELD_BY_PROVIDER",
            )
        known = {f.name for f in lt.fields} | set(LICENCE_FACTS)
        unknown = [f for f in item.fields if f not in known]
        if unknown:
            raise InvalidArgument.field(
                "item.fields",
                f"{', '.join(unknown)} not in the schema of {lt.name}",
                "UNKNOWN_FIELD",
            )

    def items(self, filters: ItemFilter = ItemFilter()) -> list[AssistanceItem]:
        """The published catalogue, filtered."""
        with self.db.read() as conn:
            items = repo.list_items(conn)
        return [i for i in items if _matches(i, filters)]

    def items_page(
        self, filters: ItemFilter, size: int, token: str
    ) -> tuple[list[AssistanceItem], str]:
        """A page of the filtered catalogue, in code order, and the next page's token."""
        limit = page_size(size, 100, 1000)
        return page_after(self.items(filters), lambda i: i.code, limit, token)

    def cached_item(self, code: str) -> AssistanceItem | None:
        """An item from a short-lived cache (for rendering lists of requests)."""
        now = time.monotonic()
        if now - self._items_at > ITEM_CACHE_SECONDS:
            self._items = {i.code: i for i in self.items()}
            self._items_at = now
        return self._items.get(code)

    def item(self, code: str) -> AssistanceItem:
        """One item by code."""
        found = next((i for i in self.items() if i.code == code.strip()), None)
        if found is None:
            raise NotFound(f"no assistance item {code}", reason="ITEM_NOT_FOUND")
        return found

    # ---------------------------------------------------------------------------- requests

    def submit(
        self,
        caller: Caller,
        key: str,
        item_code: str,
        holder_number: str,
        purpose: str,
        legal_basis: str,
        case_number: str,
        requested_fields: Sequence[str],
        consent_grant_id: str = "",
    ) -> AssistanceRequest:
        """A request against an item: automatic items are answered before this returns.
        A consent-required item (or licence type) needs the holder's grant, checked before
        anything of the holder is read."""
        key = check_key(key)
        item = self.item(item_code)
        purpose, legal_basis, case_number = check_case(purpose, legal_basis, case_number)
        granted = item.check_request(caller.code, purpose, legal_basis, list(requested_fields))
        holder = parse_holder_number(holder_number, "holder_number")
        passed = consent_for(self.consent, caller, item, holder, case_number, consent_grant_id)
        now = self.clock.now()
        deadline = self.calendar.deadline_for(now, item.time_limit_working_days)
        request = AssistanceRequest(
            request_id=new_request_id(now),
            item_code=item.code,
            requester_code=caller.code,
            provider_code=item.provider_code,
            holder=holder,
            purpose=purpose,
            legal_basis=legal_basis,
            case_number=case_number,
            requested_fields=granted,
            submitted_at=now,
            deadline=deadline.at,
            deadline_provisional=deadline.provisional,
            time_limit_working_days=item.time_limit_working_days,
            requester_staff=caller.staff,
            requester_region=caller.region,
        )
        access: list[AccessRecord] = []
        if item.procedure is Procedure.AUTOMATIC:
            access = self._answer_from_store(request, item, now, passed.note)
        stored = self._store_new(caller, key, request, access)
        self.consent.used(passed, caller.code, "assistance", f"request {request.request_id}")
        return stored

    def _store_new(
        self, caller: Caller, key: str, request: AssistanceRequest, access: list[AccessRecord]
    ) -> AssistanceRequest:
        self._seal(request, self._signing_key())  # an automatic answer is decided already
        try:
            with self.db.transaction() as conn:
                earlier = repo.request_by_key(conn, caller.code, key, self.vault)
                if earlier is None:
                    repo.insert_request(conn, request, key, self._next_seq(), self.vault)
                    insert_records(conn, access)
                    self._log_decision(conn, request)
        except AlreadyExists:  # a concurrent request with the same key came first
            with self.db.read() as conn:
                earlier = repo.request_by_key(conn, caller.code, key, self.vault)
        if earlier is not None:
            return same_request(earlier, request, key)
        self.notifier.notify()
        return request

    def _answer_from_store(
        self, request: AssistanceRequest, item: AssistanceItem, at: datetime, note: str = ""
    ) -> list[AccessRecord]:
        """Answer with exactly the granted fields of the holder's licence (valid one first)."""
        licences = self.reader.holder_licences(request.holder, [item.licence_type_code])
        best = best_licence(licences, at)
        if best is None:
            request.answer_with({"result": "NO_RECORD"}, at)
            return []
        values = licence_values(best)
        granted = {f: values.get(f, "") for f in request.requested_fields}
        lt = self.reader.licence_type(item.licence_type_code)
        sensitive = frozenset(f.name for f in lt.fields if f.sensitive)
        answer = minimal_answer(granted, request.requested_fields, sensitive, item.unmasked_fields)
        request.answer_with({"result": "FOUND", **answer}, at)
        return [self._access(request, item, at, note)]

    def _access(
        self, request: AssistanceRequest, item: AssistanceItem, at: datetime, note: str = ""
    ) -> AccessRecord:
        return AccessRecord(
            holder_key=self.vault.index(request.holder),
            department_code=request.requester_code,
            channel=f"federation:{request.requester_region}"
            if request.requester_region
            else "assistance",
            what=f"{item.name} ({item.code}): {', '.join(request.requested_fields)}{note}",
            at=at,
            purpose=request.purpose,
            case_number=request.case_number,
            # The read is the requester's, answered now or later: its staff, as it said.
            staff=request.requester_staff,
        )

    def get(self, caller: Caller, request_id: str) -> AssistanceRequest:
        """A request, to its requester, its provider or a supervisor (others: NOT_FOUND)."""
        with self.db.read() as conn:
            request = repo.get_request(conn, check_id(request_id), self.vault)
        if request is None or not self._may_see(caller, request):
            raise NotFound(f"no request {request_id}", reason="REQUEST_NOT_FOUND")
        return request

    def _roles(self, code: str) -> frozenset[Role]:
        """A department's roles (none when it is not registered)."""
        dept = self.reader.department(code)
        return dept.roles if dept else frozenset()

    def _may_see(self, caller: Caller, request: AssistanceRequest) -> bool:
        if caller.region:  # a peer region's department: its own requests only
            return _is_requester(caller, request)
        if caller.code in (request.requester_code, request.provider_code):
            return True
        roles = self._roles(caller.code)
        return Role.SUPERVISOR in roles

    def list_mine(
        self, caller: Caller, status: RequestStatus | None, size: int, token: str
    ) -> tuple[list[AssistanceRequest], str]:
        """The caller's own requests, a page at a time."""
        return self._page(
            lambda conn, after, limit: repo.list_requests(
                conn,
                vault=self.vault,
                requester=caller.code,
                status=status,
                after=after,
                limit=limit,
            ),
            size,
            token,
        )

    def list_pending(
        self, caller: Caller, size: int, token: str
    ) -> tuple[list[AssistanceRequest], str]:
        """The provider's queue, oldest deadline first, a page at a time."""
        with self.db.read() as conn:
            return pending_page(conn, self.vault, caller.code, size, token)

    def _page(self, fetch: object, size: int, token: str) -> tuple[list[AssistanceRequest], str]:
        limit = page_size(size, 50, 500)
        after = decode_token(token)
        with self.db.read() as conn:
            rows = fetch(conn, after, limit + 1)  # type: ignore[operator]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode_token(rows[-1].request_id) if more else ""

    def answer(self, caller: Caller, request_id: str, data: dict[str, str]) -> AssistanceRequest:
        """The provider answers a pending request with the granted data."""

        def apply(
            request: AssistanceRequest, item: AssistanceItem, now: datetime
        ) -> list[AccessRecord]:
            values = {k: check_text(v, f"data.{k}", 2000) for k, v in data.items()}
            if not values:
                raise InvalidArgument.field("data", "an answer carries data", "REQUIRED")
            sensitive = self._sensitive(item)
            answer = minimal_answer(
                values, request.requested_fields, sensitive, item.unmasked_fields
            )
            request.answer_with(answer, now)
            return [self._access(request, item, now)]

        return self._decide(caller, request_id, apply)

    def refuse(
        self, caller: Caller, request_id: str, ground: str, explanation: str
    ) -> AssistanceRequest:
        """The provider refuses, only on a ground the item lists, with an explanation."""

        def apply(
            request: AssistanceRequest, item: AssistanceItem, now: datetime
        ) -> list[AccessRecord]:
            request.refuse(item.check_refusal(ground), explanation, now)
            return []

        return self._decide(caller, request_id, apply)

    def urge(
        self, caller: Caller, request_id: str, note: str, *, region_supervisor: bool = False
    ) -> AssistanceRequest:
        """催办: the requester or a supervisor urges a pending request. ``region_supervisor``:
        the caller is a peer region's department that region asserts acts as its supervisor
        (federation policy checked by the caller): it may urge that region's requests."""

        def apply(
            request: AssistanceRequest, item: AssistanceItem, now: datetime
        ) -> list[AccessRecord]:
            request.urge(caller.code, note, now)
            return []

        return self._decide(
            caller, request_id, apply, provider_only=False, region_supervisor=region_supervisor
        )

    def _decide(
        self,
        caller: Caller,
        request_id: str,
        apply: object,
        *,
        provider_only: bool = True,
        region_supervisor: bool = False,
    ) -> AssistanceRequest:
        now = self.clock.now()
        signing_key = self._signing_key()  # before the transaction: it may create the key
        with self.db.transaction() as conn:
            request = repo.get_request(conn, check_id(request_id), self.vault, for_update=True)
            allowed = request is not None and (
                request.provider_code == caller.code
                if provider_only
                else _is_requester(caller, request)
                or (not caller.region and self._is_supervisor(caller))
                or (
                    region_supervisor
                    and bool(caller.region)
                    and caller.region == request.requester_region
                )
            )
            if request is None or not allowed:
                raise NotFound(f"no request {request_id}", reason="REQUEST_NOT_FOUND")
            access = apply(request, self.item(request.item_code), now)  # type: ignore[operator]
            self._seal(request, signing_key)
            repo.update_request(conn, request, self._next_seq(), self.vault)
            insert_records(conn, access)
            self._log_decision(conn, request)
        self.notifier.notify()
        return request

    def settle_provisional_deadlines(self) -> int:
        """Count again, on the calendar configured now, every pending request whose deadline
        was provisional; a request whose years are now covered keeps its deadline unless the
        official one is later (:meth:`AssistanceRequest.settle_deadline`). Run at start; the
        number of requests settled."""
        # Requests stored before the time limit was recorded (migration 0011): the item's own.
        limits = {i.code: i.time_limit_working_days for i in self.items()}
        settled = 0
        with self.db.transaction() as conn:
            # Locked: workers starting together settle each request once, and a decision
            # made meanwhile is not written over with the pending request read before it.
            for request in repo.provisional_pending(conn, self.vault, for_update=True):
                limit = request.time_limit_working_days or limits.get(request.item_code, 1)
                official = self.calendar.deadline_for(request.submitted_at, limit)
                if not official.provisional and request.settle_deadline(official.at):
                    repo.update_request(conn, request, self._next_seq(), self.vault)
                    settled += 1
        if settled:
            self.notifier.notify()
        return settled

    def _signing_key(self) -> SigningKey | None:
        return self.decision_keys.signing_key() if self.decision_keys is not None else None

    def _seal(self, request: AssistanceRequest, key: SigningKey | None) -> None:
        """Sign a decision just made: a statement naming its own id and what was decided."""
        decided = request.status is not RequestStatus.PENDING and request.decided_at is not None
        if key is None or not decided or request.seal is not None:
            return
        body = decision_body(request, self.vault.index(request.holder))
        request.seal = DecisionSeal(body, key.sign(body), key.key_id)

    def _log_decision(self, conn: Connection, request: AssistanceRequest) -> None:
        vault = self.vault
        if request.status is not RequestStatus.PENDING and request.decided_at is not None:
            audit_log.append(conn, [decision_entry(request, vault)], request.decided_at)

    def _is_admin(self, caller: Caller) -> bool:
        return Role.ADMINISTRATOR in self._roles(caller.code)

    def _is_holder_portal(self, caller: Caller) -> bool:
        return Role.HOLDER_PORTAL in self._roles(caller.code)

    def _is_supervisor(self, caller: Caller) -> bool:
        return Role.SUPERVISOR in self._roles(caller.code)

    def is_local_supervisor(self, caller: Caller) -> bool:
        """Whether ``caller`` is a department of this region with the SUPERVISOR role."""
        return not caller.region and self._is_supervisor(caller)

    def _sensitive(self, item: AssistanceItem) -> frozenset[str]:
        if not item.licence_type_code:
            return frozenset()
        lt = self.reader.licence_type(item.licence_type_code)
        return frozenset(f.name for f in lt.fields if f.sensitive)

    def changes_since(self, caller: Caller, seq: int) -> list[tuple[AssistanceRequest, int]]:
        """The caller's requests changed after change sequence ``seq``, with their sequence."""
        with self.db.read() as conn:
            return repo.changed_since(conn, caller.code, seq, self.vault)

    def _next_seq(self) -> int:
        """A change sequence (:func:`services.common.ids.change_seq`)."""
        return change_seq()


def _is_requester(caller: Caller, request: AssistanceRequest) -> bool:
    """The department that made the request, from the region it made it in."""
    return caller.code == request.requester_code and caller.region == request.requester_region


def _matches(item: AssistanceItem, f: ItemFilter) -> bool:
    return (
        (not f.provider_code or item.provider_code == f.provider_code)
        and (not f.requester_code or item.may_request(f.requester_code))
        and (f.procedure is None or item.procedure is f.procedure)
        and (not f.text or f.text in item.code or f.text in item.name)
    )


__all__ = ["AssistanceService", "ItemFilter"]
