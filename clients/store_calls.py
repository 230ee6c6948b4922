"""The licence store's calls: catalogue, the lifecycle of licences, queries, streams."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from clients.calls import Calls, Feed, request_of
from clients.resumable import (
    DEFAULT_PER_MESSAGE,
    DEFAULT_WINDOW,
    check_per_message,
    import_resumable,
    messages,
)
from clients.retry import NO_RETRY, RetryPolicy
from yihao.v1 import licence_store_pb2 as pb

__all__ = ["LicenceStoreCalls"]


class LicenceStoreCalls(Calls):
    """One method per LicenceStore RPC (see :class:`clients.client.YihaoClient`)."""

    # --- catalogue ---------------------------------------------------------------------------

    def register_department(
        self,
        request: pb.RegisterDepartmentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Department:
        """Register a department, or update its name, region and roles."""
        req = request_of(pb.RegisterDepartmentRequest, request, fields)
        return self._unary(self._store.RegisterDepartment, req, pb.Department, timeout)

    def get_department(
        self,
        request: pb.GetDepartmentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Department:
        """One department by credit code."""
        req = request_of(pb.GetDepartmentRequest, request, fields)
        return self._unary(self._store.GetDepartment, req, pb.Department, timeout)

    def list_departments(
        self,
        request: pb.ListDepartmentsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ListDepartmentsResponse:
        """One page of departments."""
        req = request_of(pb.ListDepartmentsRequest, request, fields)
        return self._unary(self._store.ListDepartments, req, pb.ListDepartmentsResponse, timeout)

    def rotate_signing_key(
        self,
        request: pb.RotateSigningKeyRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Department:
        """Start a new signing key for a department. Never retried (not idempotent)."""
        req = request_of(pb.RotateSigningKeyRequest, request, fields)
        return self._unary(self._store.RotateSigningKey, req, pb.Department, timeout, NO_RETRY)

    def mark_key_compromised(
        self,
        request: pb.MarkKeyCompromisedRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Department:
        """Distrust a signing key from an instant on (idempotent: the earliest mark wins)."""
        req = request_of(pb.MarkKeyCompromisedRequest, request, fields)
        return self._unary(self._store.MarkKeyCompromised, req, pb.Department, timeout)

    def revoke_certificate(
        self,
        request: pb.RevokeCertificateRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Department:
        """Put a department's client certificate on the revocation list (idempotent)."""
        req = request_of(pb.RevokeCertificateRequest, request, fields)
        return self._unary(self._store.RevokeCertificate, req, pb.Department, timeout)

    def register_licence_type(
        self,
        request: pb.RegisterLicenceTypeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.LicenceType:
        """Register a licence type (catalogue entry with its field schema)."""
        req = request_of(pb.RegisterLicenceTypeRequest, request, fields)
        return self._unary(self._store.RegisterLicenceType, req, pb.LicenceType, timeout)

    def get_licence_type(
        self,
        request: pb.GetLicenceTypeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.LicenceType:
        """One licence type by type code."""
        req = request_of(pb.GetLicenceTypeRequest, request, fields)
        return self._unary(self._store.GetLicenceType, req, pb.LicenceType, timeout)

    def list_licence_types(
        self,
        request: pb.ListLicenceTypesRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ListLicenceTypesResponse:
        """A page of licence types, optionally only those ``issuer_code`` may issue
        (:meth:`all_licence_types` follows the pages)."""
        req = request_of(pb.ListLicenceTypesRequest, request, fields)
        return self._unary(self._store.ListLicenceTypes, req, pb.ListLicenceTypesResponse, timeout)

    def all_licence_types(
        self, *, timeout: float | None = None, **fields: Any
    ) -> Iterator[pb.LicenceType]:
        """Every licence type (optionally only those ``issuer_code`` may issue), page by page."""
        token = ""
        while True:
            page = self.list_licence_types(timeout=timeout, page_token=token, **fields)
            yield from page.licence_types
            token = page.next_page_token
            if not token:
                return

    # --- lifecycle of licences ---------------------------------------------------------------

    def issue_licence(
        self,
        request: pb.IssueLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """Issue an e-licence; the issuer is the calling department."""
        req = request_of(pb.IssueLicenceRequest, request, fields)
        return self._mutate(self._store.IssueLicence, req, timeout)

    def change_licence(
        self,
        request: pb.ChangeLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """A new version with changed fields or holder name."""
        req = request_of(pb.ChangeLicenceRequest, request, fields)
        return self._mutate(self._store.ChangeLicence, req, timeout)

    def renew_licence(
        self,
        request: pb.RenewLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """A new version with a new validity period."""
        req = request_of(pb.RenewLicenceRequest, request, fields)
        return self._mutate(self._store.RenewLicence, req, timeout)

    def suspend_licence(
        self,
        request: pb.StatusChangeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """Suspend (暂扣) a licence, with a coded reason."""
        req = request_of(pb.StatusChangeRequest, request, fields)
        return self._mutate(self._store.SuspendLicence, req, timeout)

    def reinstate_licence(
        self,
        request: pb.StatusChangeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """Lift a suspension."""
        req = request_of(pb.StatusChangeRequest, request, fields)
        return self._mutate(self._store.ReinstateLicence, req, timeout)

    def revoke_licence(
        self,
        request: pb.StatusChangeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """Revoke (吊销) a licence; terminal."""
        req = request_of(pb.StatusChangeRequest, request, fields)
        return self._mutate(self._store.RevokeLicence, req, timeout)

    def cancel_licence(
        self,
        request: pb.StatusChangeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """Cancel (注销) a licence; terminal."""
        req = request_of(pb.StatusChangeRequest, request, fields)
        return self._mutate(self._store.CancelLicence, req, timeout)

    # --- queries -----------------------------------------------------------------------------

    def get_licence(
        self,
        request: pb.GetLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.Licence:
        """A licence, current version unless ``version`` is given."""
        req = request_of(pb.GetLicenceRequest, request, fields)
        return self._unary(self._store.GetLicence, req, pb.Licence, timeout)

    def get_licence_history(
        self,
        request: pb.GetLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.LicenceHistory:
        """Every version of a licence (oldest first) and its events: the server's pages,
        followed to the end unless ``page_token`` or ``page_size`` asks for one page."""
        req = request_of(pb.GetLicenceRequest, request, fields)
        one_page = bool(req.page_token or req.page_size)
        history = self._unary(self._store.GetLicenceHistory, req, pb.LicenceHistory, timeout)
        while history.next_page_token and not one_page:
            req.page_token = history.next_page_token
            page = self._unary(self._store.GetLicenceHistory, req, pb.LicenceHistory, timeout)
            history.versions.extend(page.versions)
            history.events.extend(page.events)
            history.next_page_token = page.next_page_token
        return history

    def list_licences_by_holder(
        self,
        request: pb.ListLicencesByHolderRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ListLicencesResponse:
        """One page of a holder's licences, optionally filtered by type and status."""
        req = request_of(pb.ListLicencesByHolderRequest, request, fields)
        return self._unary(self._store.ListLicencesByHolder, req, pb.ListLicencesResponse, timeout)

    # --- streams -----------------------------------------------------------------------------

    def watch_events(
        self,
        request: pb.WatchEventsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> Iterator[pb.LicenceEvent]:
        """Licence events after ``after_cursor``, filtered by ``type_codes``; with ``follow``
        the stream stays open for new events. Not retried: resume from the last cursor seen.
        Closing the iterator early cancels the call.
        """
        req = request_of(pb.WatchEventsRequest, request, fields)
        yield from self._stream(self._store.WatchEvents(req, timeout=timeout))

    def import_licences_resumable(
        self,
        records: Iterable[pb.ImportRecord],
        /,
        *,
        window: int = DEFAULT_WINDOW,
        per_message: int = DEFAULT_PER_MESSAGE,
        policy: RetryPolicy | None = None,
    ) -> Iterator[pb.ImportResult]:
        """:meth:`import_licences` that rides out lost connections and database restarts:
        unanswered records are re-sent on a new stream (idempotency keys make that safe), with
        backoff, within ``policy``'s deadline (default: ten minutes). At most ``window``
        records are unanswered at a time."""
        retry = policy or RetryPolicy(deadline=600.0)
        yield from import_resumable(
            lambda feed: self._import_messages(feed, None),
            records,
            retry,
            window=window,
            per_message=per_message,
        )

    def import_licences(
        self,
        records: Iterable[pb.ImportRecord],
        /,
        *,
        per_message: int = DEFAULT_PER_MESSAGE,
        timeout: float | None = None,
    ) -> Iterator[pb.ImportResult]:
        """Stream ``records`` in and yield one result per record, as each becomes durable.

        Records go ``per_message`` to a message (at most 1,000, and under 4 MiB); a message
        is sent once full or once ``records`` ends, so a caller that waits for results before
        producing more records should pass ``per_message=1``. ``records`` is read lazily,
        from gRPC's sending thread, as flow control lets it, so a huge file never sits in
        memory. The server answers in batches (of up to 2,000 records), and the last batch
        once ``records`` is exhausted: do not wait for results before sending more. If
        ``records`` raises, the records sent so far are finished and the exception is
        re-raised here after their results. Not retried: records carry idempotency keys, so
        sending the same records again is the way to resume.
        """
        check_per_message(per_message)
        feed = Feed(records)
        yield from self._import_messages(messages(feed, per_message), timeout)
        if feed.error is not None:
            raise feed.error

    def _import_messages(
        self, requests: Iterable[pb.ImportLicencesRequest], timeout: float | None
    ) -> Iterator[pb.ImportResult]:
        call = self._store.ImportLicences(iter(requests), timeout=timeout)
        for response in self._stream(call):
            yield from response.results
