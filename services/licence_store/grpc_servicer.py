"""The LicenceStore gRPC servicer: proto → service → proto, nothing else.

Identity, authorisation and error mapping are interceptors; the caller comes from
:func:`~services.common.identity.current_caller`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from services.common.errors import InvalidArgument, ResourceExhausted, YihaoError
from services.common.identity import current_caller
from services.common.paging import sized_page
from services.common.purpose import Why
from services.common.streams import StreamBatcher
from services.common.textcheck import refuse_nul
from services.common.wire import instant_in
from services.licence_store import consent_convert as ccv
from services.licence_store import convert as cv
from services.licence_store.domain.consent import Matter
from services.licence_store.domain.licence import Action
from services.licence_store.lifecycle import IssueCommand
from services.licence_store.reader import ref_in
from services.licence_store.service import LicenceStoreService
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import licence_store_pb2_grpc as pb_grpc

#: Records per import transaction: messages are gathered until this many (or a pause).
IMPORT_BATCH = 2000
#: Records (and results) per message, at most; a larger request ends the stream.
MAX_RECORDS_PER_MESSAGE = 1000
#: Request messages read ahead of the transaction in progress (each ≤ 4 MiB).
IMPORT_READ_AHEAD = 8
WATCH_BATCH = 500
WATCH_POLL_SECONDS = 1.0
IMPORT_OUTCOMES = {
    "accepted": pb.IMPORT_OUTCOME_ACCEPTED,
    "duplicate": pb.IMPORT_OUTCOME_DUPLICATE,
    "rejected": pb.IMPORT_OUTCOME_REJECTED,
}


class LicenceStoreServicer(pb_grpc.LicenceStoreServicer):  # type: ignore[misc]
    """Thin transport over :class:`LicenceStoreService`."""

    def __init__(self, service: LicenceStoreService, max_watchers: int = 4) -> None:
        self.service = service
        self._watchers = threading.BoundedSemaphore(max_watchers)

    # ------------------------------------------------------------------------- catalogue

    def RegisterDepartment(self, request: pb.RegisterDepartmentRequest, context: Any) -> Any:
        dept = self.service.catalogue.register_department(
            request.credit_code, request.name, request.region, cv.roles_in(request.roles)
        )
        return self._department(dept.credit_code)

    def GetDepartment(self, request: pb.GetDepartmentRequest, context: Any) -> Any:
        return self._department(request.credit_code)

    def _department(self, code: str) -> pb.Department:
        dept = self.service.catalogue.get_department(code)
        return cv.department_out(
            dept, self.service.catalogue.department_registered_at(dept.credit_code)
        )

    def ListDepartments(self, request: pb.ListDepartmentsRequest, context: Any) -> Any:
        depts, token = self.service.catalogue.list_departments(
            request.page_size, request.page_token
        )
        encoded = [cv.department_out(d) for d in depts]
        kept, token = sized_page(
            depts, encoded, [m.ByteSize() for m in encoded], lambda d: d.credit_code, token
        )
        return pb.ListDepartmentsResponse(departments=kept, next_page_token=token)

    def RotateSigningKey(self, request: pb.RotateSigningKeyRequest, context: Any) -> Any:
        dept = self.service.catalogue.rotate_signing_key(request.credit_code)
        return self._department(dept.credit_code)

    def MarkKeyCompromised(self, request: pb.MarkKeyCompromisedRequest, context: Any) -> Any:
        since = (
            instant_in(request.compromised_at, "compromised_at")
            if request.HasField("compromised_at")
            else None
        )
        dept = self.service.catalogue.mark_key_compromised(request.key_id, since)
        return self._department(dept.credit_code)

    def RevokeCertificate(self, request: pb.RevokeCertificateRequest, context: Any) -> Any:
        dept = self.service.catalogue.revoke_certificate(
            request.serial_number, request.department_code, request.reason
        )
        return self._department(dept.credit_code)

    def RegisterLicenceType(self, request: pb.RegisterLicenceTypeRequest, context: Any) -> Any:
        lt = self.service.catalogue.register_licence_type(cv.licence_type_in(request.licence_type))
        return cv.licence_type_out(lt)

    def GetLicenceType(self, request: pb.GetLicenceTypeRequest, context: Any) -> Any:
        return cv.licence_type_out(self.service.catalogue.get_licence_type(request.type_code))

    def ListLicenceTypes(self, request: pb.ListLicenceTypesRequest, context: Any) -> Any:
        types, token = self.service.catalogue.licence_types_page(
            request.issuer_code, request.page_size, request.page_token
        )
        encoded = [cv.licence_type_out(t) for t in types]
        kept, token = sized_page(
            types, encoded, [m.ByteSize() for m in encoded], lambda t: t.type_code, token
        )
        return pb.ListLicenceTypesResponse(licence_types=kept, next_page_token=token)

    # ------------------------------------------------------------------------- lifecycle

    def IssueLicence(self, request: pb.IssueLicenceRequest, context: Any) -> Any:
        view = self.service.lifecycle.issue(current_caller(), cv.issue_command_in(request))
        return cv.licence_out(view)

    def ChangeLicence(self, request: pb.ChangeLicenceRequest, context: Any) -> Any:
        view = self.service.lifecycle.change(
            current_caller(),
            ref_in(request.licence),
            dict(request.fields),
            request.holder_name,
            request.idempotency_key,
            request.reason,
        )
        return cv.licence_out(view)

    def RenewLicence(self, request: pb.RenewLicenceRequest, context: Any) -> Any:
        view = self.service.lifecycle.renew(
            current_caller(),
            ref_in(request.licence),
            request.valid_until,
            request.idempotency_key,
            request.reason,
        )
        return cv.licence_out(view)

    def _status(self, action: Action, request: pb.StatusChangeRequest) -> pb.Licence:
        view = self.service.lifecycle.change_status(
            current_caller(),
            action,
            ref_in(request.licence),
            request.reason_code,
            request.reason_text,
            request.idempotency_key,
        )
        return cv.licence_out(view)

    def SuspendLicence(self, request: pb.StatusChangeRequest, context: Any) -> Any:
        return self._status(Action.SUSPEND, request)

    def ReinstateLicence(self, request: pb.StatusChangeRequest, context: Any) -> Any:
        return self._status(Action.REINSTATE, request)

    def RevokeLicence(self, request: pb.StatusChangeRequest, context: Any) -> Any:
        return self._status(Action.REVOKE, request)

    def CancelLicence(self, request: pb.StatusChangeRequest, context: Any) -> Any:
        return self._status(Action.CANCEL, request)

    # --------------------------------------------------------------------------- queries

    def GetLicence(self, request: pb.GetLicenceRequest, context: Any) -> Any:
        view = self.service.queries.get(
            current_caller(),
            ref_in(request.licence),
            request.version,
            why=_why(request),
            consent_grant_id=request.consent_grant_id,
        )
        return cv.licence_out(view)

    def GetLicenceHistory(self, request: pb.GetLicenceRequest, context: Any) -> Any:
        history = self.service.queries.history(
            current_caller(),
            ref_in(request.licence),
            why=_why(request),
            size=request.page_size,
            token=request.page_token,
            consent_grant_id=request.consent_grant_id,
            measure=(
                lambda view: cv.licence_out(view).ByteSize(),
                lambda event: cv.event_out(event).ByteSize(),
            ),
        )
        return pb.LicenceHistory(
            versions=[cv.licence_out(v) for v in history.versions],
            events=[cv.event_out(e) for e in history.events],
            next_page_token=history.next_token,
        )

    def ListLicencesByHolder(self, request: pb.ListLicencesByHolderRequest, context: Any) -> Any:
        page = self.service.queries.list_by_holder(
            current_caller(),
            request.holder_number,
            list(request.type_codes),
            cv.statuses_in(request.statuses),
            request.page_size,
            request.page_token,
            why=_why(request),
            consent_grant_id=request.consent_grant_id,
            measure=lambda view: cv.licence_out(view).ByteSize(),
        )
        return pb.ListLicencesResponse(
            licences=[cv.licence_out(v) for v in page.items], next_page_token=page.next_token
        )

    # --------------------------------------------------------------------------- consent

    def GrantConsent(self, request: pb.GrantConsentRequest, context: Any) -> Any:
        view = self.service.consents.grant(current_caller(), ccv.terms_in(request))
        return ccv.grant_out(view)

    def ListConsents(self, request: pb.ListConsentsRequest, context: Any) -> Any:
        views, token = self.service.consents.list_for(
            current_caller(), request.holder_number, request.page_size, request.page_token
        )
        return pb.ListConsentsResponse(
            grants=[ccv.grant_out(v) for v in views], next_page_token=token
        )

    def RevokeConsent(self, request: pb.RevokeConsentRequest, context: Any) -> Any:
        view = self.service.consents.revoke(
            current_caller(), request.grant_id, request.holder_number, request.acting_person
        )
        return ccv.grant_out(view)

    def CheckConsent(self, request: pb.CheckConsentRequest, context: Any) -> Any:
        answer = self.service.consents.check(
            request.grant_id,
            request.holder_number,
            request.department_code,
            request.type_code,
            Matter(request.item_code, request.case_number),
        )
        return ccv.check_out(answer)

    def WatchEvents(self, request: pb.WatchEventsRequest, context: Any) -> Iterator[Any]:
        if not self._watchers.acquire(blocking=False):
            raise ResourceExhausted(
                "too many event streams are open on this server; retry shortly",
                retry_after=5.0,
                reason="TOO_MANY_STREAMS",
            )
        try:
            yield from self._watch(request, context)
        finally:
            self._watchers.release()

    def _watch(self, request: pb.WatchEventsRequest, context: Any) -> Iterator[pb.LicenceEvent]:
        cursor = request.after_cursor
        codes = self.service.queries.watchable(current_caller(), list(request.type_codes))
        if request.newest_first:
            yield from self._newest(request, codes)
            return
        notifier = self.service.notifier
        while context.is_active():
            seen = notifier.generation
            events = self.service.queries.events_after(cursor, codes, WATCH_BATCH)
            for stored in events:
                yield cv.event_out(stored)
                cursor = stored.cursor
            if len(events) == WATCH_BATCH:
                continue
            if not request.follow:
                return
            notifier.wait(seen, WATCH_POLL_SECONDS)

    def _newest(self, request: pb.WatchEventsRequest, codes: list[str]) -> Iterator[Any]:
        """A page of the newest events before ``before_cursor`` (WatchEvents newest_first)."""
        for name in ("after_cursor", "follow"):
            if getattr(request, name):
                raise InvalidArgument.field(name, "must not be set with newest_first", "CONFLICT")
        page = self.service.queries.events_before(request.before_cursor, codes, request.limit)
        for stored in page:
            yield cv.event_out(stored)

    # ----------------------------------------------------------------------- bulk import

    def ImportLicences(self, request_iterator: Iterator[Any], context: Any) -> Iterator[Any]:
        caller = current_caller()
        messages = StreamBatcher(
            request_iterator,
            IMPORT_BATCH,
            weight=lambda m: len(m.records),
            max_queued=IMPORT_READ_AHEAD,
        )
        for batch in messages:
            commands: list[tuple[int, IssueCommand | YihaoError]] = []
            for message in batch:
                if len(message.records) > MAX_RECORDS_PER_MESSAGE:
                    yield from self._import(caller, commands)  # earlier messages are answered
                    raise InvalidArgument.field(
                        "records",
                        f"holds {len(message.records)} records; a message holds at most "
                        f"{MAX_RECORDS_PER_MESSAGE}",
                        "TOO_MANY_RECORDS",
                    )
                commands.extend(_import_commands(message))
            yield from self._import(caller, commands)

    def _import(
        self, caller: Any, batch: list[tuple[int, IssueCommand | YihaoError]]
    ) -> Iterator[Any]:
        if not batch:
            return
        results = [
            pb.ImportResult(
                line=outcome.line,
                outcome=IMPORT_OUTCOMES[outcome.outcome],
                licence_id=outcome.licence_id,
                reason_code=outcome.reason_code,
                reason=outcome.reason,
            )
            for outcome in self.service.imports.import_batch(caller, batch)
        ]
        for start in range(0, len(results), MAX_RECORDS_PER_MESSAGE):
            yield pb.ImportLicencesResponse(
                results=results[start : start + MAX_RECORDS_PER_MESSAGE]
            )


def _why(request: Any) -> Why:
    return Why(purpose=request.purpose, case_number=request.case_number)


def _import_commands(
    message: pb.ImportLicencesRequest,
) -> list[tuple[int, IssueCommand | YihaoError]]:
    """(line, command or why not) for each record of a message, in order.

    A NUL in any string would be a zero byte in the message's encoding: the records are
    searched one by one only when the message has one.
    """
    check_nul = b"\x00" in message.SerializeToString()
    return [(r.line, _import_command(r, check_nul)) for r in message.records]


def _import_command(record: pb.ImportRecord, check_nul: bool) -> IssueCommand | YihaoError:
    # A malformed record (e.g. a bad enum) is rejected on its own; it never ends the stream.
    try:
        if check_nul:
            refuse_nul(record)
        return cv.issue_command_in(record.licence)
    except YihaoError as exc:
        return exc
