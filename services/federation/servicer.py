"""The owning side: the ``Federation`` service a peer region calls, and who that peer is.

Served on the federation listener only (never the departments' port). The TLS layer accepts
only certificates signed by a configured peer's CA; :class:`RegionInterceptor` then reads the
region from the certificate (``urn:yihao:region:<code>``) and refuses (UNAUTHENTICATED) a
region that is not a peer or a certificate its CA did not sign (a region presenting another
region's identity). :class:`FederationServicer` checks the assertion, applies this region's
policy for that peer (RPCs, licence types), and verifies as the asserted department *via* the
peer region: the receipt says so, the access records are written under the department with
channel ``federation:<region>``, and the signed receipt travels back with the answers.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from services.assistance.service import AssistanceService
from services.common.clock import Clock
from services.common.errors import InvalidArgument, PermissionDenied, Unauthenticated, YihaoError
from services.common.identifiers import validate_department_code
from services.common.identity import Caller
from services.common.interceptors import WrappingInterceptor
from services.common.metrics import NO_METRICS, Metrics
from services.common.pki import issued_by, region_from_pem
from services.common.ratelimit import RateLimiter
from services.federation.answers import document_licence_id
from services.federation.assistance_servicer import AssistanceAnswering
from services.federation.config import ANY_TYPE, FederationConfig, Peer
from services.federation.evidence import Asserted, check_assertion
from services.federation.replay import SeenAssertions
from services.verifier.grpc_servicer import VerifierServicer
from services.verifier.messages import (
    MAX_BATCH_ITEMS,
    Wire,
    batch_item,
    receipt_out,
    verification_out,
)
from services.verifier.service import VerifierService
from yihao.v1 import federation_pb2 as fpb
from yihao.v1 import federation_pb2_grpc as fpb_grpc
from yihao.v1 import verifier_pb2 as pb
from yihao_shared.staff import check_staff

_peer: contextvars.ContextVar[Peer | None] = contextvars.ContextVar("yihao_peer", default=None)


def current_peer() -> Peer:
    """The peer region making the current federation call (set by the interceptor)."""
    peer = _peer.get()
    if peer is None:
        raise Unauthenticated("no authenticated peer region", reason="NO_PEER_REGION")
    return peer


def peer_from_context(config: FederationConfig, context: grpc.ServicerContext) -> Peer:
    """The peer named by the TLS client certificate, signed by that peer's own CA."""
    pems = context.auth_context().get("x509_pem_cert")
    pem = pems[0] if pems else b""
    region = region_from_pem(pem) if pem else None
    peer = config.peers.get(region or "")
    if peer is None:
        raise Unauthenticated(
            "a federation certificate of a peer region (urn:yihao:region:<code>) is required",
            reason="UNKNOWN_REGION",
        )
    if not issued_by(pem, peer.ca_pem):
        raise Unauthenticated(
            f"the certificate for region {peer.region} is not signed by that region's CA",
            reason="WRONG_REGION_CERTIFICATE",
        )
    return peer


class RegionInterceptor(WrappingInterceptor):
    """Makes the certificate's peer region the current peer, or refuses the call."""

    def __init__(self, config: FederationConfig) -> None:
        self.config = config

    def around(self, method: str, context: grpc.ServicerContext, run: Callable[[], Any]) -> Any:
        token = _peer.set(peer_from_context(self.config, context))
        try:
            return run()
        finally:
            _peer.reset(token)

    def around_stream(
        self, method: str, context: grpc.ServicerContext, run: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        token = _peer.set(peer_from_context(self.config, context))
        try:
            yield from run()
        finally:
            _peer.reset(token)


def _type_of(item: pb.VerifyLicenceRequest) -> str:
    """The licence type an item asks about ("" if its reference is malformed)."""
    ref = item.licence
    if ref.WhichOneof("ref") == "type_and_number":
        return ref.type_and_number.type_code.strip()
    return _type_of_id(ref.licence_id)


def _type_of_id(licence_id: str) -> str:
    parts = licence_id.split(".")
    return parts[5] if len(parts) == 10 else ""


class FederationServicer(AssistanceAnswering, fpb_grpc.FederationServicer):  # type: ignore[misc]
    """Answers peer regions' forwarded verifications (and, with assistance served here, their
    departments' assistance requests) under this region's policy for them."""

    assistance: AssistanceService | None = None  # set when assistance is served here

    def __init__(
        self,
        config: FederationConfig,
        service: VerifierService,
        clock: Clock,
        *,
        seen: SeenAssertions,
        limiter: RateLimiter,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.config = config
        self.service = service
        self.clock = clock
        self.seen = seen
        self.limiter = limiter
        self.metrics = metrics
        self._wire = Wire()
        self._documents = VerifierServicer(service)  # no forwarder: answered here

    def VerifyLicence(self, request: fpb.FederatedVerifyRequest, context: Any) -> Any:
        return self.served(lambda: self._verify("VerifyLicence", request))

    def VerifyBatch(self, request: fpb.FederatedVerifyRequest, context: Any) -> Any:
        return self.served(lambda: self._verify("VerifyBatch", request))

    def VerifyDocument(self, request: fpb.FederatedVerifyRequest, context: Any) -> Any:
        return self.served(lambda: self._verify_document(request))

    def VerifyByHolder(self, request: fpb.FederatedVerifyRequest, context: Any) -> Any:
        return self.served(lambda: self._verify_by_holder(request))

    def served(self, answer: Callable[[], Any]) -> Any:
        """``answer()``, counted by calling region and outcome (ANSWERED or the refusal's
        reason: RATE_LIMITED, ASSERTION_REPLAYED, ASSERTION_EXPIRED, ...)."""
        region = current_peer().region
        try:
            response = answer()
        except YihaoError as exc:
            self.metrics.federation_served(region, exc.reason)
            raise
        self.metrics.federation_served(region, "ANSWERED")
        return response

    def _verify_document(self, request: fpb.FederatedVerifyRequest) -> Any:
        peer, caller = self._caller("VerifyDocument", request, request.document, lambda: 1)
        try:
            document = pb.VerifyDocumentRequest.FromString(request.document)
        except DecodeError:
            raise InvalidArgument.field(
                "document", "is not a VerifyDocumentRequest", "FORMAT"
            ) from None
        self._allow_type(peer, _type_of_id(document_licence_id(document)))
        result = self._documents.verify_document(caller, document)
        receipt = self.service.get_receipt(result.receipt_id)
        return fpb.FederatedVerifyResponse(results=[result], receipt=receipt_out(receipt))

    def _verify_by_holder(self, request: fpb.FederatedVerifyRequest) -> Any:
        peer, caller = self._caller(
            "VerifyByHolder", request, request.by_holder, lambda: 1, "federated_by_holder"
        )
        try:
            asked = pb.VerifyByHolderRequest.FromString(request.by_holder)
        except DecodeError:
            raise InvalidArgument.field(
                "by_holder", "is not a VerifyByHolderRequest", "FORMAT"
            ) from None
        results = self.service.verify_by_holder(
            caller,
            asked.holder_number,
            self._types_allowed(peer, list(asked.type_codes)),
            asked.presented_holder_name,
            valid_only=asked.valid_only,
            context={
                "purpose": asked.purpose,
                "case_number": asked.case_number,
                "consent_grant_id": asked.consent_grant_id,
            },
        )
        receipt = self.service.get_receipt(results[0].receipt_id)
        return fpb.FederatedVerifyResponse(
            results=[verification_out(r) for r in results], receipt=receipt_out(receipt)
        )

    @classmethod
    def _types_allowed(cls, peer: Peer, asked: list[str]) -> list[str]:
        """The types a peer's lookup by holder covers: those asked (each must be allowed), or,
        when none were named, every type if the peer may see all, else those it may see."""
        for type_code in asked:
            cls._allow_type(peer, type_code.strip())
        if asked or peer.allow.type_allowed(ANY_TYPE):
            return asked
        if not peer.allow.licence_types:
            raise PermissionDenied(
                f"region {peer.region} may not verify any licence type here",
                reason="FEDERATION_TYPE_NOT_ALLOWED",
            )
        return sorted(peer.allow.licence_types)

    def _caller(
        self,
        rpc: str,
        request: fpb.FederatedVerifyRequest,
        payload: bytes,
        questions: Callable[[], int],
        kind: str = "federated",
    ) -> tuple[Peer, Caller]:
        """The peer, and the department it asserts, once its policy allows ``rpc``, the
        assertion holds for ``payload`` and is used for the first time, and the peer's rate
        limit has room for ``questions()`` more of ``kind``."""
        peer, caller, _ = self._caller_asserted(rpc, request, payload, questions, kind)
        return peer, caller

    def _caller_asserted(
        self,
        rpc: str,
        request: Any,
        payload: bytes,
        questions: Callable[[], int],
        kind: str = "federated",
    ) -> tuple[Peer, Caller, Asserted]:
        """As :meth:`_caller`, with what the assertion states."""
        peer = self.admit(rpc)
        asserted = self.asserted(peer, rpc, request.assertion, payload)
        department = validate_department_code(asserted.department, "assertion.department")
        staff = check_staff(asserted.staff) if asserted.staff else None
        self.charge(peer, kind, questions())
        caller = Caller(department, staff, region=peer.region, assertion_sha256=asserted.sha256)
        return peer, caller, asserted

    @staticmethod
    def admit(rpc: str) -> Peer:
        """The calling peer, once this region's policy lets it call ``rpc``."""
        peer = current_peer()
        if rpc not in peer.allow.rpcs:
            raise PermissionDenied(
                f"region {peer.region} may not call {rpc} here", reason="FEDERATION_RPC_NOT_ALLOWED"
            )
        return peer

    def charge(self, peer: Peer, kind: str, questions: int) -> None:
        """Charge ``questions`` of ``kind`` to the calling region's own rate limit
        (RESOURCE_EXHAUSTED, reason RATE_LIMITED, with when to retry, when it is spent)."""
        self.limiter.charge(f"region:{peer.region}", kind, questions)

    def asserted(self, peer: Peer, rpc: str, assertion: Any, payload: bytes) -> Asserted:
        """What ``peer``'s assertion for ``rpc`` and ``payload`` states, once it verifies, is
        still valid, and was not used before (UNAUTHENTICATED otherwise)."""
        now = self.clock.now()
        asserted = check_assertion(
            assertion.body_json,
            assertion.signature.key_id,
            assertion.signature.value,
            keys=peer.receipt_keys,
            from_region=peer.region,
            to_region=self.config.region,
            rpc=rpc,
            batch=payload,
            now=now,
        )
        self.seen.remember(peer.region, asserted.nonce, asserted.expires_at, now)
        return asserted

    def _verify(self, rpc: str, request: fpb.FederatedVerifyRequest) -> Any:
        items: list[pb.VerifyLicenceRequest] = []

        def count() -> int:
            items.extend(self._items(rpc, request.batch))
            return len(items)

        peer, caller = self._caller(rpc, request, request.batch, count)
        for item in items:
            self._allow_type(peer, _type_of(item))
        chunk = self.service.verify_batch(caller, [batch_item(r) for r in items])
        chunk.wait_durable()
        receipt = self.service.get_receipt(chunk.receipt_id)
        response = fpb.FederatedVerifyResponse(receipt=receipt_out(receipt))
        self._wire.fill(response.results, chunk)
        return response

    @staticmethod
    def _items(rpc: str, batch: bytes) -> list[pb.VerifyLicenceRequest]:
        try:
            items = list(pb.VerifyBatchRequest.FromString(batch).items)
        except DecodeError:
            raise InvalidArgument.field("batch", "is not a VerifyBatchRequest", "FORMAT") from None
        if not 1 <= len(items) <= (1 if rpc == "VerifyLicence" else MAX_BATCH_ITEMS):
            raise InvalidArgument.field(
                "batch", f"{rpc} takes 1 to {MAX_BATCH_ITEMS} items", "ITEM_COUNT"
            )
        return items

    @staticmethod
    def _allow_type(peer: Peer, type_code: str) -> None:
        if type_code and not peer.allow.type_allowed(type_code):
            raise PermissionDenied(
                f"region {peer.region} may not verify licences of type {type_code} here",
                reason="FEDERATION_TYPE_NOT_ALLOWED",
            )
