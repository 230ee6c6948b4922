"""The assistance calls (行政协助): items, requests, supervision, access records, commitments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from clients.calls import Calls, M, T, new_idempotency_key, request_of
from clients.retry import NO_RETRY, RetryPolicy
from yihao.v1 import assistance_pb2 as apb

__all__ = ["AssistanceCalls"]


class AssistanceCalls(Calls):
    """One method per Assistance RPC (see :class:`clients.client.YihaoClient`)."""

    # --- assistance (行政协助) -----------------------------------------------------------------

    def _assistance_call(
        self,
        name: str,
        cls: type[M],
        returns: type[T],
        request: M | None,
        fields: Any,
        timeout: float | None,
        policy: RetryPolicy | None = None,
    ) -> T:
        req = request_of(cls, request, fields)
        return self._unary(getattr(self._assistance, name), req, returns, timeout, policy)

    def register_item(
        self,
        request: apb.RegisterItemRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.AssistanceItem:
        """Publish (or replace) an assistance item in the catalogue (administrators)."""
        return self._assistance_call(
            "RegisterItem", apb.RegisterItemRequest, apb.AssistanceItem, request, fields, timeout
        )

    def list_items(
        self,
        request: apb.ListItemsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.ListItemsResponse:
        """A page of the assistance catalogue, filtered by provider, requester, procedure or
        text (:meth:`all_items` follows the pages)."""
        return self._assistance_call(
            "ListItems", apb.ListItemsRequest, apb.ListItemsResponse, request, fields, timeout
        )

    def all_items(
        self, *, timeout: float | None = None, **fields: Any
    ) -> Iterator[apb.AssistanceItem]:
        """Every assistance item matching the filters of :meth:`list_items`, page by page."""
        token = ""
        while True:
            page = self.list_items(timeout=timeout, page_token=token, **fields)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def submit_request(
        self,
        request: apb.SubmitRequestRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.AssistanceRequest:
        """Ask for assistance; automatic items come back answered. Gets a fresh
        ``idempotency_key`` when empty, so a retry returns the same request.
        """
        req = request_of(apb.SubmitRequestRequest, request, fields)
        if not req.idempotency_key:
            req.idempotency_key = new_idempotency_key()
        return self._unary(self._assistance.SubmitRequest, req, apb.AssistanceRequest, timeout)

    def get_request(
        self,
        request: apb.GetRequestRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.AssistanceRequest:
        """One assistance request, to its requester, its provider or a supervisor."""
        return self._assistance_call(
            "GetRequest", apb.GetRequestRequest, apb.AssistanceRequest, request, fields, timeout
        )

    def list_my_requests(
        self,
        request: apb.ListRequestsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.ListRequestsResponse:
        """One page of the calling department's own requests, optionally of one status."""
        return self._assistance_call(
            "ListMyRequests",
            apb.ListRequestsRequest,
            apb.ListRequestsResponse,
            request,
            fields,
            timeout,
        )

    def watch_my_requests(
        self,
        request: apb.WatchMyRequestsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> Iterator[apb.AssistanceRequest]:
        """The calling department's requests as they change; with ``follow`` the stream
        stays open. Not retried; closing the iterator early cancels the call.
        """
        req = request_of(apb.WatchMyRequestsRequest, request, fields)
        yield from self._stream(self._assistance.WatchMyRequests(req, timeout=timeout))

    def list_pending(
        self,
        request: apb.ListRequestsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.ListRequestsResponse:
        """The calling provider's queue of pending requests, oldest deadline first."""
        return self._assistance_call(
            "ListPending",
            apb.ListRequestsRequest,
            apb.ListRequestsResponse,
            request,
            fields,
            timeout,
        )

    def answer(
        self,
        request: apb.AnswerRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.AssistanceRequest:
        """Answer a pending request with ``data`` (the provider). A retry after a lost reply
        cannot answer twice: it fails with FAILED_PRECONDITION (REQUEST_NOT_PENDING).
        """
        return self._assistance_call(
            "Answer", apb.AnswerRequest, apb.AssistanceRequest, request, fields, timeout
        )

    def refuse(
        self,
        request: apb.RefuseRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.AssistanceRequest:
        """Refuse a pending request on a ground the item lists, with an explanation."""
        return self._assistance_call(
            "Refuse", apb.RefuseRequest, apb.AssistanceRequest, request, fields, timeout
        )

    def urge(
        self,
        request: apb.UrgeRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.AssistanceRequest:
        """催办: urge a pending request (requester or supervisor). Never retried."""
        return self._assistance_call(
            "Urge", apb.UrgeRequest, apb.AssistanceRequest, request, fields, timeout, NO_RETRY
        )

    def supervise(
        self,
        request: apb.SuperviseRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.SupervisionReport:
        """The 电子监察 report: per-provider figures, overdue requests, broken commitments."""
        return self._assistance_call(
            "Supervise", apb.SuperviseRequest, apb.SupervisionReport, request, fields, timeout
        )

    def list_access_records(
        self,
        request: apb.ListAccessRecordsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.ListAccessRecordsResponse:
        """One page of who read a holder's data, newest first (the holder portal)."""
        return self._assistance_call(
            "ListAccessRecords",
            apb.ListAccessRecordsRequest,
            apb.ListAccessRecordsResponse,
            request,
            fields,
            timeout,
        )

    def record_commitment(
        self,
        request: apb.RecordCommitmentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.Commitment:
        """Record a notification-commitment (告知承诺). Never retried: it has no idempotency
        key, so a retry after a lost reply would record it twice.
        """
        return self._assistance_call(
            "RecordCommitment",
            apb.RecordCommitmentRequest,
            apb.Commitment,
            request,
            fields,
            timeout,
            NO_RETRY,
        )

    def list_commitments(
        self,
        request: apb.ListCommitmentsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> apb.ListCommitmentsResponse:
        """Commitments, optionally of one status (supervisors and administrators)."""
        return self._assistance_call(
            "ListCommitments",
            apb.ListCommitmentsRequest,
            apb.ListCommitmentsResponse,
            request,
            fields,
            timeout,
        )

    def check_commitments(self, *, timeout: float | None = None) -> apb.ListCommitmentsResponse:
        """Check every pending commitment now; the ones whose status changed."""
        return self._assistance_call(
            "CheckCommitments",
            apb.CheckCommitmentsRequest,
            apb.ListCommitmentsResponse,
            None,
            {},
            timeout,
        )
