"""The Yihao client: one method per RPC, typed errors, retries, idempotency keys.

Every method takes **either** its request message **or** that message's fields as keyword
arguments (never both), and returns the response message::

    with YihaoClient(ClientConfig.for_department("market")) as yihao:
        yihao.get_licence(licence=licence_ref("11100000000013338W011:FZ-0001"))
        yihao.get_licence(GetLicenceRequest(licence=..., version=2))      # the same, as a message
        for event in yihao.watch_events(after_cursor=120, follow=True):
            ...

As a shorthand, a ``licence=`` keyword may be a reference string (see :func:`licence_ref`).

* Each unary attempt is bounded by ``timeout`` (the method's keyword, else the client's).
  Streaming calls (:meth:`YihaoClient.watch_events`, :meth:`YihaoClient.import_licences`) have
  no deadline unless given one, since they may rightly run for hours.
* Failures are raised as :mod:`yihao_shared.errors` classes (see :mod:`clients.errors`).
* Unary calls are retried under the client's :class:`RetryPolicy` (UNAVAILABLE and
  RESOURCE_EXHAUSTED only) — except ``rotate_signing_key``, ``urge`` and
  ``record_commitment``, which are not idempotent: a retry after a lost reply would rotate
  twice, record a second urging or a second commitment.
* Mutating licence calls and ``submit_request`` get a fresh ``idempotency_key`` (uuid4 hex)
  when theirs is empty, before the first attempt, so every retry carries the same key. The
  key is written into the request message you passed, so re-sending that same message after
  an error is safe too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc

from clients.connection import DEFAULT_TIMEOUT, ClientConfig, connect
from clients.errors import from_grpc_error
from clients.resumable import (
    DEFAULT_PER_MESSAGE,
    DEFAULT_WINDOW,
    check_per_message,
    import_resumable,
    messages,
)
from clients.retry import NO_RETRY, RetryPolicy, call_with_retry
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import (
    assistance_pb2_grpc,
    common_pb2,
    common_pb2_grpc,
    licence_store_pb2_grpc,
    verifier_pb2_grpc,
)
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import InvalidArgument

__all__ = ["LICENCE_ID_PREFIX", "YihaoClient", "licence_ref"]

M = TypeVar("M")
T = TypeVar("T")

#: Every e-licence identifier (GB/T 36904 OID arc) starts with this.
LICENCE_ID_PREFIX = "1.2.156.3005.2."
#: Items per VerifyBatch message (the server takes up to 10,000; each message gets a receipt).
VERIFY_BATCH_CHUNK = 500
MAX_VERIFY_BATCH_CHUNK = 10_000


def licence_ref(text: str) -> pb.LicenceRef:
    """A ``LicenceRef`` from ``"<e-licence identifier>"`` or ``"<TYPE_CODE>:<LICENCE_NUMBER>"``."""
    text = text.strip()
    if text.startswith(LICENCE_ID_PREFIX):
        return pb.LicenceRef(licence_id=text)
    type_code, sep, number = text.partition(":")
    if not (sep and type_code.strip() and number.strip()):
        raise InvalidArgument.field(
            "licence",
            f"{text!r} is neither an e-licence identifier ({LICENCE_ID_PREFIX}...) "
            "nor TYPE_CODE:LICENCE_NUMBER",
            reason="INVALID_LICENCE_REF",
        )
    pair = pb.TypeAndNumber(type_code=type_code.strip(), licence_number=number.strip())
    return pb.LicenceRef(type_and_number=pair)


def new_idempotency_key() -> str:
    """A fresh idempotency key (32 hex characters)."""
    return uuid.uuid4().hex


def _request(cls: type[M], request: M | None, fields: dict[str, Any]) -> M:
    """``request`` itself, or a ``cls`` built from ``fields``."""
    if request is None:
        if isinstance(fields.get("licence"), str):
            fields = {**fields, "licence": licence_ref(fields["licence"])}
        return cls(**fields)
    if fields:
        raise TypeError("pass a request message or its fields as keywords, not both")
    if not isinstance(request, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(request).__name__}")
    return request


class _Feed:
    """Hands records to gRPC's sending thread, keeping any exception the records raise.

    gRPC would swallow an exception raised by the request iterable (say, the file cannot be
    read) and only cancel the call; kept here, the stream is half-closed normally so the
    records already sent get their results, and the caller re-raises it at the end.
    """

    def __init__(self, records: Iterable[Any]) -> None:
        self._records = records
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._records
        except Exception as exc:  # handed back to the caller's thread
            self.error = exc


def _verify_chunks(
    requests: Iterable[vpb.VerifyLicenceRequest], size: int
) -> Iterator[vpb.VerifyBatchRequest]:
    chunk = vpb.VerifyBatchRequest()
    for request in requests:
        chunk.items.append(request)
        if len(chunk.items) >= size:
            yield chunk
            chunk = vpb.VerifyBatchRequest()
    if chunk.items:
        yield chunk


class YihaoClient:
    """A client of the Yihao licence store, verifier, assistance and diagnostics services.

    ``target`` is a :class:`ClientConfig` (the client opens, and closes, a mutual-TLS
    channel) or a ready ``grpc.Channel`` (yours to close; tests pass an insecure one).
    """

    def __init__(
        self,
        target: ClientConfig | grpc.Channel,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        if isinstance(target, ClientConfig):
            self._channel, self._owns_channel = connect(target), True
            default_timeout = target.timeout
        else:
            self._channel, self._owns_channel = target, False
            default_timeout = DEFAULT_TIMEOUT
        self.timeout = default_timeout if timeout is None else timeout
        self.retry = retry or RetryPolicy()
        self._store = licence_store_pb2_grpc.LicenceStoreStub(self._channel)
        self._diagnostics = common_pb2_grpc.DiagnosticsStub(self._channel)
        self._verifier = verifier_pb2_grpc.VerifierStub(self._channel)
        self._assistance = assistance_pb2_grpc.AssistanceStub(self._channel)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the channel if this client opened it."""
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> YihaoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _unary(
        self,
        rpc: Callable[..., Any],
        request: object,
        returns: type[T],
        timeout: float | None,
        policy: RetryPolicy | None = None,
    ) -> T:
        """Call ``rpc`` with retries and error translation; ``returns`` is for the checker."""
        per_attempt = self.timeout if timeout is None else timeout

        def attempt(remaining: float) -> T:
            try:
                response: T = rpc(request, timeout=min(per_attempt, remaining))
            except grpc.RpcError as exc:
                raise from_grpc_error(exc) from exc
            return response

        return call_with_retry(attempt, policy or self.retry)

    def _mutate(self, rpc: Callable[..., Any], request: Any, timeout: float | None) -> pb.Licence:
        if not request.idempotency_key:
            request.idempotency_key = new_idempotency_key()
        return self._unary(rpc, request, pb.Licence, timeout)

    @staticmethod
    def _stream(call: Any) -> Iterator[Any]:
        try:
            yield from call
        except grpc.RpcError as exc:
            raise from_grpc_error(exc) from exc
        finally:
            call.cancel()  # a no-op once the call has ended; stops it if the caller quit early

    # --- diagnostics -------------------------------------------------------------------------

    def ping(
        self,
        request: common_pb2.PingRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> common_pb2.PingResponse:
        """Diagnostics.Ping: a no-op through the whole server stack; names the caller."""
        req = _request(common_pb2.PingRequest, request, fields)
        return self._unary(self._diagnostics.Ping, req, common_pb2.PingResponse, timeout)

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
        req = _request(pb.RegisterDepartmentRequest, request, fields)
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
        req = _request(pb.GetDepartmentRequest, request, fields)
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
        req = _request(pb.ListDepartmentsRequest, request, fields)
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
        req = _request(pb.RotateSigningKeyRequest, request, fields)
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
        req = _request(pb.MarkKeyCompromisedRequest, request, fields)
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
        req = _request(pb.RevokeCertificateRequest, request, fields)
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
        req = _request(pb.RegisterLicenceTypeRequest, request, fields)
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
        req = _request(pb.GetLicenceTypeRequest, request, fields)
        return self._unary(self._store.GetLicenceType, req, pb.LicenceType, timeout)

    def list_licence_types(
        self,
        request: pb.ListLicenceTypesRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ListLicenceTypesResponse:
        """All licence types, optionally only those ``issuer_code`` may issue."""
        req = _request(pb.ListLicenceTypesRequest, request, fields)
        return self._unary(self._store.ListLicenceTypes, req, pb.ListLicenceTypesResponse, timeout)

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
        req = _request(pb.IssueLicenceRequest, request, fields)
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
        req = _request(pb.ChangeLicenceRequest, request, fields)
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
        req = _request(pb.RenewLicenceRequest, request, fields)
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
        req = _request(pb.StatusChangeRequest, request, fields)
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
        req = _request(pb.StatusChangeRequest, request, fields)
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
        req = _request(pb.StatusChangeRequest, request, fields)
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
        req = _request(pb.StatusChangeRequest, request, fields)
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
        req = _request(pb.GetLicenceRequest, request, fields)
        return self._unary(self._store.GetLicence, req, pb.Licence, timeout)

    def get_licence_history(
        self,
        request: pb.GetLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.LicenceHistory:
        """Every version of a licence (oldest first) and its events."""
        req = _request(pb.GetLicenceRequest, request, fields)
        return self._unary(self._store.GetLicenceHistory, req, pb.LicenceHistory, timeout)

    def list_licences_by_holder(
        self,
        request: pb.ListLicencesByHolderRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ListLicencesResponse:
        """One page of a holder's licences, optionally filtered by type and status."""
        req = _request(pb.ListLicencesByHolderRequest, request, fields)
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
        req = _request(pb.WatchEventsRequest, request, fields)
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
        feed = _Feed(records)
        yield from self._import_messages(messages(feed, per_message), timeout)
        if feed.error is not None:
            raise feed.error

    def _import_messages(
        self, requests: Iterable[pb.ImportLicencesRequest], timeout: float | None
    ) -> Iterator[pb.ImportResult]:
        call = self._store.ImportLicences(iter(requests), timeout=timeout)
        for response in self._stream(call):
            yield from response.results

    # --- verifier ----------------------------------------------------------------------------

    def _verifier_call(
        self,
        name: str,
        cls: type[M],
        returns: type[T],
        request: M | None,
        fields: Any,
        timeout: float | None,
    ) -> T:
        req = _request(cls, request, fields)
        return self._unary(getattr(self._verifier, name), req, returns, timeout)

    def verify_licence(
        self,
        request: vpb.VerifyLicenceRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.Verification:
        """Verify one licence (``licence`` may be a REF string); the answer cites a receipt."""
        return self._verifier_call(
            "VerifyLicence", vpb.VerifyLicenceRequest, vpb.Verification, request, fields, timeout
        )

    def verify_by_holder(
        self,
        request: vpb.VerifyByHolderRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.VerifyByHolderResponse:
        """A holder's licences of the given types, each with its verdict."""
        return self._verifier_call(
            "VerifyByHolder",
            vpb.VerifyByHolderRequest,
            vpb.VerifyByHolderResponse,
            request,
            fields,
            timeout,
        )

    def verify_batch(
        self,
        requests: Iterable[vpb.VerifyLicenceRequest],
        /,
        *,
        timeout: float | None = None,
        chunk: int = VERIFY_BATCH_CHUNK,
    ) -> Iterator[vpb.Verification]:
        """One verdict per request, in order (set ``client_ref`` to match them up).

        Requests travel ``chunk`` to a message (a chunk is sent once full, the last one when
        ``requests`` is exhausted); each chunk's verifications cite one receipt.
        """
        if not 1 <= chunk <= MAX_VERIFY_BATCH_CHUNK:
            raise ValueError(f"chunk must be 1..{MAX_VERIFY_BATCH_CHUNK}")
        feed = _Feed(_verify_chunks(requests, chunk))
        call = self._verifier.VerifyBatch(iter(feed), timeout=timeout)
        for response in self._stream(call):
            yield from response.results
        if feed.error is not None:
            raise feed.error

    def verify_document(
        self,
        request: vpb.VerifyDocumentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.Verification:
        """Check a presented signed document or QR payload."""
        return self._verifier_call(
            "VerifyDocument", vpb.VerifyDocumentRequest, vpb.Verification, request, fields, timeout
        )

    def export_document(
        self,
        request: vpb.ExportDocumentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.SignedDocument:
        """A licence version as its issuer signed it."""
        return self._verifier_call(
            "ExportDocument",
            vpb.ExportDocumentRequest,
            vpb.SignedDocument,
            request,
            fields,
            timeout,
        )

    def issue_qr_payload(
        self,
        request: vpb.IssueQrPayloadRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.QrPayload:
        """A short-lived signed QR payload for showing a licence (亮证)."""
        return self._verifier_call(
            "IssueQrPayload", vpb.IssueQrPayloadRequest, vpb.QrPayload, request, fields, timeout
        )

    def get_issuer_keys(
        self,
        request: vpb.GetIssuerKeysRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.IssuerKeys:
        """Issuers' public keys and the verifier's receipt keys (for offline checks)."""
        return self._verifier_call(
            "GetIssuerKeys", vpb.GetIssuerKeysRequest, vpb.IssuerKeys, request, fields, timeout
        )

    def get_receipt(
        self,
        request: vpb.GetReceiptRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.Receipt:
        """A verification receipt by id."""
        return self._verifier_call(
            "GetReceipt", vpb.GetReceiptRequest, vpb.Receipt, request, fields, timeout
        )

    def verify_receipt(
        self,
        request: vpb.GetReceiptRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.ReceiptCheck:
        """A receipt and whether it is authentic and unaltered."""
        return self._verifier_call(
            "VerifyReceipt", vpb.GetReceiptRequest, vpb.ReceiptCheck, request, fields, timeout
        )

    def list_service_items(self, *, timeout: float | None = None) -> vpb.ListServiceItemsResponse:
        """The service items (办事事项) with their required materials."""
        return self._verifier_call(
            "ListServiceItems",
            vpb.ListServiceItemsRequest,
            vpb.ListServiceItemsResponse,
            None,
            {},
            timeout,
        )

    def check_materials(
        self,
        request: vpb.CheckMaterialsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.MaterialsCheck:
        """Which of a service item's materials valid e-licences cover for an applicant."""
        return self._verifier_call(
            "CheckMaterials",
            vpb.CheckMaterialsRequest,
            vpb.MaterialsCheck,
            request,
            fields,
            timeout,
        )

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
        req = _request(cls, request, fields)
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
        """The assistance catalogue, filtered by provider, requester, procedure or text."""
        return self._assistance_call(
            "ListItems", apb.ListItemsRequest, apb.ListItemsResponse, request, fields, timeout
        )

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
        req = _request(apb.SubmitRequestRequest, request, fields)
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
        req = _request(apb.WatchMyRequestsRequest, request, fields)
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

    def get_tree_head(
        self,
        request: vpb.GetTreeHeadRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.SignedTreeHead:
        """The tamper-evident log's latest signed tree head (``fresh`` signs one now)."""
        return self._verifier_call(
            "GetTreeHead", vpb.GetTreeHeadRequest, vpb.SignedTreeHead, request, fields, timeout
        )

    def get_inclusion_proof(
        self,
        request: vpb.GetInclusionProofRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.InclusionProof:
        """A proof that a record (by ``ref``) is in a signed tree."""
        return self._verifier_call(
            "GetInclusionProof",
            vpb.GetInclusionProofRequest,
            vpb.InclusionProof,
            request,
            fields,
            timeout,
        )

    def get_consistency_proof(
        self,
        request: vpb.GetConsistencyProofRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.ConsistencyProof:
        """A proof that a later signed tree only appended to an earlier one."""
        return self._verifier_call(
            "GetConsistencyProof",
            vpb.GetConsistencyProofRequest,
            vpb.ConsistencyProof,
            request,
            fields,
            timeout,
        )
