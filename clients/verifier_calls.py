"""The verifier's calls: verification one by one and in batches, documents, receipts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from clients.calls import MAX_VERIFY_BATCH_CHUNK, VERIFY_BATCH_CHUNK, Calls, Feed, M, T, request_of
from yihao.v1 import verifier_pb2 as vpb

__all__ = ["VerifierCalls"]


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


class VerifierCalls(Calls):
    """One method per Verifier RPC (see :class:`clients.client.YihaoClient`)."""

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
        req = request_of(cls, request, fields)
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
        feed = Feed(_verify_chunks(requests, chunk))
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
        """A verification receipt by id, judged (``judged``, ``authentic``, ``check_reason``:
        as :meth:`verify_receipt` would say)."""
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

    # --- transparency (the signed log) ----------------------------------------------------

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

    def list_log_entries(
        self,
        request: vpb.ListLogEntriesRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.LogEntries:
        """Log entries by position, each with its inclusion proof (supervisors)."""
        return self._verifier_call(
            "ListLogEntries",
            vpb.ListLogEntriesRequest,
            vpb.LogEntries,
            request,
            fields,
            timeout,
        )

    def get_status_chain(
        self,
        request: vpb.GetStatusChainRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> vpb.StatusChain:
        """A licence's signed status statements as stored, unverified (supervisors)."""
        return self._verifier_call(
            "GetStatusChain",
            vpb.GetStatusChainRequest,
            vpb.StatusChain,
            request,
            fields,
            timeout,
        )
