"""The Verifier gRPC servicer: proto → service → proto."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import grpc

from services.common.decoding import decoder
from services.common.errors import InvalidArgument, NotFound
from services.common.identifiers import HolderNumber
from services.common.identity import Caller, current_caller
from services.common.streams import pipelined
from services.common.wire import key_out, timestamp
from services.licence_store.reader import ref_in
from services.verifier.batch import Chunk
from services.verifier.batch_wire import read_items
from services.verifier.messages import (
    MAX_BATCH_ITEMS,
    Wire,
    asked_in,
    batch_item,
    encoded,
    head_out,
    item_out,
    material_out,
    receipt_out,
    verification_out,
)
from services.verifier.results import (
    Asked,
    ForwardedResult,
    Presented,
    Result,
)
from services.verifier.service import VerifierService
from yihao.v1 import common_pb2 as common
from yihao.v1 import verifier_pb2 as pb
from yihao.v1 import verifier_pb2_grpc as pb_grpc


class Forwarding(Protocol):
    """Where questions about other regions' licences go (federation; implemented by
    :class:`services.federation.forwarder.Forwarder`, which depends on this module)."""

    def owner(self, ref: Any) -> Any:
        """The peer region owning the licence ``ref`` names, or None (answered here)."""

    def document_owner(self, request: pb.VerifyDocumentRequest) -> Any:
        """The peer region owning the licence a presented document names, or None."""

    def forward_document(
        self, caller: Caller, peer: Any, request: pb.VerifyDocumentRequest
    ) -> ForwardedResult:
        """The owning region's answer to a presented document."""

    def forward(
        self, caller: Caller, peer: Any, rpc: str, items: Sequence[pb.VerifyLicenceRequest]
    ) -> list[ForwardedResult]:
        """The owning region's answers, one per item (CANNOT_CHECK when it cannot answer)."""

    def holder_peers(self, holder: HolderNumber) -> Sequence[Any]:
        """The peer regions a lookup of ``holder``'s licences goes to (the policy)."""

    def forward_by_holder(
        self,
        caller: Caller,
        peers: Sequence[Any],
        request: pb.VerifyByHolderRequest,
        presented: Presented,
    ) -> list[ForwardedResult]:
        """Each peer's answers (one CANNOT_CHECK for a peer that cannot answer)."""


SERVICE = pb.DESCRIPTOR.services_by_name["Verifier"].full_name
#: A VerifyBatch message not read by batch_wire, parsed in full (UNDECODABLE_REQUEST if bad).
_decode = decoder(f"/{SERVICE}/VerifyBatch", pb.VerifyBatchRequest.FromString)


def add_to_server(servicer: VerifierServicer, server: Any) -> None:
    """Register the Verifier service on ``server`` as the generated code does, except that
    VerifyBatch's requests reach the servicer as their bytes, which it reads itself, and that
    the answers it encodes itself (VerifyBatch's, VerifyLicence's on the fast path) are sent as
    they are."""
    handlers: dict[str, Any] = {}

    class Collect:  # what the generated registration hands a server
        def add_generic_rpc_handlers(self, _generic: Any) -> None:
            pass

        def add_registered_method_handlers(self, _service: str, found: dict[str, Any]) -> None:
            handlers.update(found)

    pb_grpc.add_VerifierServicer_to_server(servicer, Collect())
    one = handlers["VerifyLicence"]
    handlers["VerifyLicence"] = grpc.unary_unary_rpc_method_handler(
        one.unary_unary,
        request_deserializer=one.request_deserializer,
        response_serializer=encoded,  # a fast-path answer comes encoded (Wire.verification)
    )
    batch = handlers["VerifyBatch"]
    handlers["VerifyBatch"] = grpc.stream_stream_rpc_method_handler(
        batch.stream_stream,
        request_deserializer=None,  # the servicer reads the bytes (batch_wire, else _decode)
        response_serializer=encoded,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


def _within_limit(items: int) -> None:
    if items > MAX_BATCH_ITEMS:
        raise InvalidArgument.field(
            "items", f"at most {MAX_BATCH_ITEMS} items per message", "TOO_MANY"
        )


class VerifierServicer(pb_grpc.VerifierServicer):  # type: ignore[misc]
    """Thin transport over :class:`VerifierService`; with federation configured, a question
    about another region's licence goes through the ``forwarder``
    (:class:`Forwarding`)."""

    def __init__(self, service: VerifierService, forwarder: Forwarding | None = None) -> None:
        self.service = service
        self.forwarder = forwarder
        self._wire = Wire()

    def VerifyLicence(self, request: pb.VerifyLicenceRequest, context: Any) -> Any:
        ref_in(request.licence)  # a reference is required
        if self.forwarder is not None:  # the only cost to the hot path without federation
            peer = self.forwarder.owner(request.licence)
            if peer is not None:
                return self._forward_one(peer, request)
        chunk = self.service.verify(current_caller(), asked_in(request))
        return self._wire.verification(chunk)

    def _forward_one(self, peer: Any, request: pb.VerifyLicenceRequest) -> pb.Verification:
        """Validated here, answered by the owning region, sealed in this region's receipt."""
        assert self.forwarder is not None
        caller = current_caller()
        asked = asked_in(request)
        fast = self.service.fast
        fast.charge(caller, [asked])
        fast.prepare(asked, fast.holders())  # a malformed question is the caller's error
        answered = self.forwarder.forward(caller, peer, "VerifyLicence", [request])
        return verification_out(self.service.record_receipt(caller, list(answered))[0])

    def VerifyByHolder(self, request: pb.VerifyByHolderRequest, context: Any) -> Any:
        caller = current_caller()
        results = self.service.verify_by_holder(
            caller,
            request.holder_number,
            list(request.type_codes),
            request.presented_holder_name,
            valid_only=request.valid_only,
            context={
                "purpose": request.purpose,
                "case_number": request.case_number,
                "consent_grant_id": request.consent_grant_id,
            },
            elsewhere=self._other_regions(caller, request),
        )
        return pb.VerifyByHolderResponse(verifications=[verification_out(r) for r in results])

    def _other_regions(
        self, caller: Caller, request: pb.VerifyByHolderRequest
    ) -> Callable[[HolderNumber, Presented], list[ForwardedResult]] | None:
        """How other regions are asked about the holder (None: no federation, or the caller is
        itself a peer region, which asks each region it wants on its own)."""
        forwarder = self.forwarder
        if forwarder is None or caller.region:
            return None

        def ask(holder: HolderNumber, presented: Presented) -> list[ForwardedResult]:
            peers = forwarder.holder_peers(holder)
            return forwarder.forward_by_holder(caller, peers, request, presented) if peers else []

        return ask

    def _materials_elsewhere(
        self, caller: Caller, request: pb.CheckMaterialsRequest
    ) -> Callable[[HolderNumber, Presented, list[str]], list[ForwardedResult]] | None:
        """How other regions are asked about an applicant's licences of the item's types: as
        a lookup by holder (None: no federation, or the caller is a peer region)."""
        forwarder = self.forwarder
        if forwarder is None or caller.region:
            return None

        def ask(
            applicant: HolderNumber, presented: Presented, type_codes: list[str]
        ) -> list[ForwardedResult]:
            peers = forwarder.holder_peers(applicant)
            if not peers:
                return []
            lookup = pb.VerifyByHolderRequest(
                holder_number=applicant.value,
                type_codes=type_codes,
                purpose=presented.purpose,
                case_number=presented.case_number,
                consent_grant_id=request.consent_grant_id,
            )
            return forwarder.forward_by_holder(caller, peers, lookup, presented)

        return ask

    def VerifyBatch(self, request_iterator: Iterator[Any], context: Any) -> Iterator[bytes]:
        """Takes each chunk as its encoded bytes (or as a message, in process) and answers it
        as its ``VerifyBatchResponse`` already encoded (see :func:`add_to_server`)."""
        caller = current_caller()

        def read(requests: Iterator[Any]) -> Iterator[list[Asked] | pb.VerifyBatchRequest]:
            # Runs in the thread reading ahead; an undecodable message ends the stream with
            # INVALID_ARGUMENT once the chunks before it are answered, as when gRPC decoded.
            for raw in requests:
                if not isinstance(raw, bytes):
                    yield raw
                    continue
                items = read_items(raw) if self.forwarder is None else None
                yield items if items is not None else _decode(raw)

        def start(request: list[Asked] | pb.VerifyBatchRequest) -> Chunk:
            if isinstance(request, list):  # read from the wire already (batch_wire)
                _within_limit(len(request))
                return self.service.verify_batch(caller, request)
            _within_limit(len(request.items))
            forwarded = self._forward_items(caller, request.items)
            return self.service.verify_batch(
                caller,
                [Asked() if i in forwarded else batch_item(r) for i, r in enumerate(request.items)],
                forwarded,
            )

        def finish(chunk: Chunk) -> bytes:
            response = self._wire.encode(chunk)  # a VerifyBatchResponse (see add_to_server)
            chunk.wait_durable()  # no answer leaves before the receipt it cites is durable
            return response

        # The next chunk is verified while the previous one's receipt is being written.
        yield from pipelined(read(request_iterator), start, finish)

    def _forward_items(self, caller: Caller, items: Any) -> dict[int, Result]:
        """The items of a chunk another region owns, answered by it (grouped per region)."""
        if self.forwarder is None:
            return {}
        groups: dict[str, tuple[Any, list[int]]] = {}
        for i, item in enumerate(items):
            peer = self.forwarder.owner(item.licence)
            if peer is not None and batch_item(item).refused is None:
                groups.setdefault(peer.region, (peer, []))[1].append(i)
        answered: dict[int, Result] = {}
        for peer, indexes in groups.values():
            results = self.forwarder.forward(
                caller, peer, "VerifyBatch", [items[i] for i in indexes]
            )
            answered.update(zip(indexes, results, strict=True))
        return answered

    def VerifyDocument(self, request: pb.VerifyDocumentRequest, context: Any) -> Any:
        return self.verify_document(current_caller(), request)

    def verify_document(self, caller: Caller, request: pb.VerifyDocumentRequest) -> Any:
        """A presented document or QR payload checked for ``caller`` (forwarded to the region
        that owns its licence, when federation names one)."""
        presented = Presented.parse(
            request.presented_holder_number,
            request.presented_holder_name,
            purpose=request.purpose,
            case_number=request.case_number,
        )
        self.service.charge_question(caller, presented)
        which = request.WhichOneof("document")
        if which is None:
            raise InvalidArgument.field(
                "document", "present a signed_document or a qr_payload", "REQUIRED"
            )
        if self.forwarder is not None and not caller.region:
            peer = self.forwarder.document_owner(request)
            if peer is not None:
                answered = self.forwarder.forward_document(caller, peer, request)
                return verification_out(self.service.record_receipt(caller, [answered])[0])
        if which == "signed_document":
            doc = request.signed_document
            result = self.service.documents.verify_signed_document(
                caller, doc.content_json, doc.signature.key_id, doc.signature.value, presented
            )
        else:
            result = self.service.documents.verify_qr(caller, request.qr_payload, presented)
        return verification_out(result)

    def ExportDocument(self, request: pb.ExportDocumentRequest, context: Any) -> Any:
        content, stored = self.service.documents.export(
            current_caller(), ref_in(request.licence), request.version
        )
        signed = stored.signed
        return pb.SignedDocument(
            content_json=content,
            signature=common.Signature(
                key_id=signed.key_id, algorithm=signed.algorithm, value=signed.signature
            ),
            issuer_code=stored.licence.issuer_code,
        )

    def IssueQrPayload(self, request: pb.IssueQrPayloadRequest, context: Any) -> Any:
        payload, expires = self.service.documents.issue_qr(
            current_caller(), ref_in(request.licence), request.ttl_seconds
        )
        return pb.QrPayload(payload=payload, expires_at=timestamp(expires))

    def GetIssuerKeys(self, request: pb.GetIssuerKeysRequest, context: Any) -> Any:
        depts = self.service.reader.issuer_keys(list(request.issuer_codes))
        return pb.IssuerKeys(
            issuers=[
                pb.IssuerKeySet(
                    issuer_code=d.credit_code,
                    issuer_name=d.name,
                    keys=[key_out(k) for k in d.keys],
                )
                for d in depts
            ],
            receipt_keys=[
                key_out(k)
                for keys in (self.service.receipt_keys, self.service.log_keys)
                for k in keys.all_public()
            ],
        )

    def GetReceipt(self, request: pb.GetReceiptRequest, context: Any) -> Any:
        return self._judged(request.receipt_id)[0]

    def VerifyReceipt(self, request: pb.GetReceiptRequest, context: Any) -> Any:
        judged, authentic, reason = self._judged(request.receipt_id)
        return pb.ReceiptCheck(authentic=authentic, reason=reason, receipt=judged)

    def _judged(self, receipt_id: str) -> tuple[pb.Receipt, bool, str]:
        """A stored receipt as answered, judged: never shown without saying if it is authentic."""
        receipt = self.service.get_receipt(receipt_id)
        authentic, reason = self.service.receipt_check.check(receipt)
        out = receipt_out(receipt)
        out.judged, out.authentic, out.check_reason = True, authentic, reason
        return out, authentic, reason

    def GetTreeHead(self, request: pb.GetTreeHeadRequest, context: Any) -> Any:
        return head_out(self.service.transparency.tree_head(request.fresh))

    def GetInclusionProof(self, request: pb.GetInclusionProofRequest, context: Any) -> Any:
        leaf, path, head = self.service.transparency.inclusion(request.ref, request.tree_size)
        return pb.InclusionProof(
            leaf_index=leaf.index,
            leaf_hash=leaf.leaf_hash,
            kind=leaf.kind,
            payload_sha256=leaf.payload_sha256,
            path=path,
            head=head_out(head),
        )

    def GetConsistencyProof(self, request: pb.GetConsistencyProofRequest, context: Any) -> Any:
        path, first, second = self.service.transparency.consistency(
            request.first_size, request.second_size
        )
        return pb.ConsistencyProof(path=path, first=head_out(first), second=head_out(second))

    def ListLogEntries(self, request: pb.ListLogEntriesRequest, context: Any) -> Any:
        head, entries = self.service.transparency.entries(
            request.tree_size, request.start, request.count
        )
        return pb.LogEntries(
            head=head_out(head),
            entries=[
                pb.LogEntry(
                    leaf_index=leaf.index,
                    kind=leaf.kind,
                    ref=leaf.ref,
                    payload_sha256=leaf.payload_sha256,
                    leaf_hash=leaf.leaf_hash,
                    path=path,
                )
                for leaf, path in entries
            ],
        )

    def GetStatusChain(self, request: pb.GetStatusChainRequest, context: Any) -> Any:
        serial = request.serial.strip()
        if not serial or len(serial) > 64:
            raise InvalidArgument.field("serial", "is required, at most 64 characters", "REQUIRED")
        chain = self.service.reader.status_chain(serial)
        if not chain:
            raise NotFound(f"no status statements for {serial}", reason="LICENCE_NOT_FOUND")
        return pb.StatusChain(
            serial=serial,
            statements=[pb.StoredStatement(body=body, signature=sig) for body, sig in chain],
        )

    def ListServiceItems(self, request: pb.ListServiceItemsRequest, context: Any) -> Any:
        return pb.ListServiceItemsResponse(
            items=[item_out(i) for i in self.service.materials.list_items()]
        )

    def CheckMaterials(self, request: pb.CheckMaterialsRequest, context: Any) -> Any:
        caller = current_caller()
        item, outcomes = self.service.materials.check_materials(
            caller,
            request.item_code,
            request.applicant_number,
            {
                "purpose": request.purpose,
                "case_number": request.case_number,
                "consent_grant_id": request.consent_grant_id,
            },
            elsewhere=self._materials_elsewhere(caller, request),
        )
        return pb.MaterialsCheck(
            item=item_out(item),
            materials=[
                pb.MaterialCheck(
                    material=material_out(o.material),
                    covered=o.covered,
                    reason=o.reason,
                    verification=verification_out(o.result) if o.result else None,
                )
                for o in outcomes
            ],
        )
