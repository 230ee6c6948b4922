"""The forwarding side: a verification of another region's licence goes to that region.

For each question this region does not own (:meth:`FederationConfig.owner_of_issuer`), the
forwarder signs an assertion about the asking department, calls the owning region's
``Federation`` service over mutual TLS under this region's federation certificate (the peer's
CA only is trusted for that connection), within the caller's deadline, and checks the peer's
receipt against the peer's published receipt keys. What comes back is one
:class:`~services.verifier.results.ForwardedResult` per item, which the verifier seals into
this region's own receipt. A peer that is down, slow or answers with a receipt that does not
verify gives CANNOT_CHECK (REGION_UNAVAILABLE, PEER_RECEIPT_INVALID, PEER_REFUSED) — never
VALID, never NOT_FOUND. A circuit breaker per peer stops calls to a dead peer for a while.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import grpc

from services.common.canonical import sha256_hex
from services.common.clock import Clock
from services.common.database import remaining_seconds
from services.common.errors import BY_STATUS, Internal, ResourceExhausted, Unavailable
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    mask_holder_number,
)
from services.common.identity import Caller
from services.common.metrics import NO_METRICS, Metrics
from services.common.ratelimit import RateLimiter
from services.common.signing import SigningKey
from services.common.thread_names import name_this_thread
from services.federation.answers import (
    Ask,
    asked_item,
    document_licence_id,
    forwarded,
    result_for,
    verdict_of,
)
from services.federation.breaker import BreakerState, CircuitBreaker
from services.federation.config import FederationConfig, Peer
from services.federation.evidence import Stated, assertion_body, receipt_problem
from services.verifier.domain.verdict import Decision, HolderMatch, Verdict
from services.verifier.results import (
    ForwardedResult,
    Presented,
)
from yihao.v1 import common_pb2 as common
from yihao.v1 import federation_pb2 as fpb
from yihao.v1 import federation_pb2_grpc as fpb_grpc
from yihao.v1 import verifier_pb2 as pb

log = logging.getLogger("yihao.federation")

#: Time kept back from the caller's deadline to seal this region's receipt and answer.
DEADLINE_MARGIN = 0.15
REGION_UNAVAILABLE = "REGION_UNAVAILABLE"
PEER_RECEIPT_INVALID = "PEER_RECEIPT_INVALID"
PEER_REFUSED = "PEER_REFUSED"
#: This region's own limit for lookups by holder number sent to one peer was spent.
FORWARD_RATE_LIMITED = "FORWARD_RATE_LIMITED"
_FAILURES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class Forwarder:
    """Forwards verifications to peer regions; one channel and one breaker per peer."""

    def __init__(
        self,
        config: FederationConfig,
        signing_key: Callable[[], SigningKey],
        clock: Clock,
        metrics: Metrics = NO_METRICS,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self._signing_key = signing_key
        self._clock = clock
        self._metrics = metrics
        self._limiter = limiter
        self._lock = threading.Lock()
        self._stubs: dict[str, Any] = {}
        self._listeners: list[Callable[[str, BreakerState], None]] = []
        self.breakers = {
            region: CircuitBreaker(
                peer.breaker.failures,
                peer.breaker.open_seconds,
                on_change=functools.partial(self._changed, region),
            )
            for region, peer in config.peers.items()
        }
        self._pool = ThreadPoolExecutor(
            max(2, len(config.peers)), thread_name_prefix="forward", initializer=name_this_thread
        )
        for region in config.peers:
            metrics.federation_peer_state(region, BreakerState.CLOSED.value)

    def watch(self, listener: Callable[[str, BreakerState], None]) -> None:
        """Call ``listener(region, state)`` now for every peer and whenever a breaker changes."""
        self._listeners.append(listener)
        for region, breaker in self.breakers.items():
            listener(region, breaker.state)

    def _changed(self, region: str, state: BreakerState) -> None:
        log.warning("federation peer %s: circuit %s", region, state.name)
        self._metrics.federation_peer_state(region, state.value)
        for listener in self._listeners:
            listener(region, state)

    def close(self) -> None:
        """Stop the forwarding threads and close the channels."""
        self._pool.shutdown(wait=False)
        with self._lock:
            for stub in self._stubs.values():
                stub.channel.close()
            self._stubs.clear()

    # ---------------------------------------------------------------------- routing

    def owner(self, ref: Any) -> Peer | None:
        """The peer owning the licence a ``LicenceRef`` names (None: answered here)."""
        which = ref.WhichOneof("ref")
        if which == "licence_id":
            parts = ref.licence_id.split(".")
            return self.config.owner_of_issuer(parts[6]) if len(parts) == 10 else None
        if which == "type_and_number":
            return self.config.owner_of_type(ref.type_and_number.type_code.strip())
        return None

    # ------------------------------------------------------------------- forwarding

    def document_owner(self, request: pb.VerifyDocumentRequest) -> Peer | None:
        """The peer owning the licence a presented document or QR payload names."""
        licence_id = document_licence_id(request)
        parts = licence_id.split(".")
        return self.config.owner_of_issuer(parts[6]) if len(parts) == 10 else None

    def forward(
        self, caller: Caller, peer: Peer, rpc: str, items: Sequence[pb.VerifyLicenceRequest]
    ) -> list[ForwardedResult]:
        """Ask ``peer`` about ``items`` for ``caller``: one answer per item, in order."""
        asks = [asked_item(item) for item in items]
        batch = pb.VerifyBatchRequest(items=items).SerializeToString()
        single = items[0] if rpc == "VerifyLicence" else pb.VerifyLicenceRequest()
        return self._forward(
            caller, peer, rpc, fpb.FederatedVerifyRequest(batch=batch), batch, single, asks
        )

    def forward_document(
        self, caller: Caller, peer: Peer, request: pb.VerifyDocumentRequest
    ) -> ForwardedResult:
        """Ask ``peer`` to verify a presented document or QR payload for ``caller``."""
        document = request.SerializeToString()
        which = request.WhichOneof("document") or ""
        presented = Presented.parse(
            request.presented_holder_number,
            request.presented_holder_name,
            purpose=request.purpose,
            case_number=request.case_number,
        )
        asked = Ask({"document": which, "forwarded_to": peer.region}, presented)
        (result,) = self._forward(
            caller,
            peer,
            "VerifyDocument",
            fpb.FederatedVerifyRequest(document=document),
            document,
            request,
            [asked],
        )
        return result

    def _forward(
        self,
        caller: Caller,
        peer: Peer,
        rpc: str,
        request: fpb.FederatedVerifyRequest,
        payload: bytes,
        why: Any,
        asks: Sequence[Ask],
    ) -> list[ForwardedResult]:
        now = self._clock.now()
        response, assertion_sha256, failure = self._call(
            caller, peer, rpc, request, payload, why, self._timeout(peer)
        )
        if failure:
            return self._unable(peer, asks, now, failure)
        return self._answers(caller, peer, asks, response, assertion_sha256, now)

    def _call(
        self,
        caller: Caller,
        peer: Peer,
        rpc: str,
        request: fpb.FederatedVerifyRequest,
        payload: bytes,
        why: Any,
        timeout: float | None,
        extra: dict[str, str] | None = None,
    ) -> tuple[Any, str, str]:
        """Call ``peer`` with a fresh signed assertion: (response, the assertion's SHA-256, "")
        or (None, "", why it could not answer: REGION_UNAVAILABLE or PEER_REFUSED: <code>)."""
        breaker = self.breakers[peer.region]
        if timeout is None or not breaker.allow():
            return None, "", REGION_UNAVAILABLE
        body = self._assert(caller, peer, rpc, request, payload, why, extra)
        try:
            response = getattr(self._stub(peer), rpc)(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code in _FAILURES:
                breaker.failed()
                self._metrics.forwarded(peer.region, REGION_UNAVAILABLE)
                return None, "", REGION_UNAVAILABLE
            breaker.succeeded()  # it answered: a refusal is not an outage
            log.warning("federation peer %s refused: %s", peer.region, code)
            self._metrics.forwarded(peer.region, PEER_REFUSED)
            return None, "", f"{PEER_REFUSED}: {code.name}"
        breaker.succeeded()
        return response, sha256_hex(body), ""

    def ask(
        self,
        caller: Caller,
        peer: Peer,
        rpc: str,
        request: Any,
        payload: bytes,
        why: Any,
        extra: dict[str, str] | None = None,
    ) -> Any:
        """Call ``peer``'s ``rpc`` for ``caller`` under a fresh assertion and return its
        answer; a peer that cannot answer is UNAVAILABLE (REGION_UNAVAILABLE), a refusal is
        the peer's own status and message, naming the region (reason PEER_REFUSED)."""
        timeout = self._timeout(peer)
        breaker = self.breakers[peer.region]
        if timeout is None or not breaker.allow():
            raise _unavailable(peer)
        self._assert(caller, peer, rpc, request, payload, why, extra)
        try:
            response = getattr(self._stub(peer), rpc)(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code in _FAILURES:
                breaker.failed()
                self._metrics.forwarded(peer.region, REGION_UNAVAILABLE)
                raise _unavailable(peer) from None
            breaker.succeeded()
            self._metrics.forwarded(peer.region, PEER_REFUSED)
            error = BY_STATUS.get(code.name, Internal)
            raise error(f"region {peer.region}: {exc.details()}", reason=PEER_REFUSED) from None
        breaker.succeeded()
        self._metrics.forwarded(peer.region, "ANSWERED")
        return response

    def _assert(
        self,
        caller: Caller,
        peer: Peer,
        rpc: str,
        request: Any,
        payload: bytes,
        why: Any,
        extra: dict[str, str] | None,
    ) -> bytes:
        """Sign a fresh assertion about ``caller`` for ``payload`` into ``request``."""
        body = assertion_body(
            department=caller.code,
            from_region=self.config.region,
            to_region=peer.region,
            rpc=rpc,
            batch=payload,
            at=self._clock.now(),
            purpose=why.purpose,
            case_number=why.case_number,
            staff=caller.staff or "",
            extra=extra,
        )
        key = self._signing_key()
        request.assertion.body_json = body
        request.assertion.signature.CopyFrom(
            common.Signature(key_id=key.key_id, algorithm=key.algorithm, value=key.sign(body))
        )
        return body

    # ------------------------------------------------------------ lookups by holder

    def holder_peers(self, holder: HolderNumber) -> list[Peer]:
        """The peers a lookup of ``holder``'s licences goes to (the policy: the region of
        the holder's administrative code, and peers configured for every lookup)."""
        division = holder.value[:6] if holder.kind is HolderKind.PERSON else holder.value[2:8]
        return self.config.peers_for_holder(division)

    def forward_by_holder(
        self,
        caller: Caller,
        peers: Sequence[Peer],
        request: pb.VerifyByHolderRequest,
        presented: Presented,
    ) -> list[ForwardedResult]:
        """Ask each of ``peers`` (at once, each within the caller's deadline) for the holder's
        licences: their answers in order of ``peers``; a peer that cannot answer (or that
        this region's limit for lookups sent to it refuses) gives one CANNOT_CHECK."""
        timeout = {p.region: self._timeout(p) for p in peers}  # the deadline is this thread's
        calls = [
            self._pool.submit(self._by_holder, caller, p, request, presented, timeout[p.region])
            for p in peers
        ]
        return [result for call in calls for result in call.result()]

    def _by_holder(
        self,
        caller: Caller,
        peer: Peer,
        request: pb.VerifyByHolderRequest,
        presented: Presented,
        timeout: float | None,
    ) -> list[ForwardedResult]:
        now = self._clock.now()
        record = {
            "holder_number": mask_holder_number(
                presented.holder_number.value, presented.holder_number.kind
            )
            if presented.holder_number is not None
            else "",
            "type_codes": list(request.type_codes),
        }
        ask = Ask(record, presented)
        if not self._within_limit(peer):
            return self._unable(peer, [ask], now, FORWARD_RATE_LIMITED)
        payload = request.SerializeToString()
        response, assertion_sha256, failure = self._call(
            caller,
            peer,
            "VerifyByHolder",
            fpb.FederatedVerifyRequest(by_holder=payload),
            payload,
            request,
            timeout,
            {"consent_grant_id": request.consent_grant_id} if request.consent_grant_id else None,
        )
        if failure:
            return self._unable(peer, [ask], now, failure)
        asks = [ask] * len(response.results)
        return self._answers(caller, peer, asks, response, assertion_sha256, now)

    def _within_limit(self, peer: Peer) -> bool:
        if self._limiter is None:
            return True
        try:
            self._limiter.charge(f"to-region:{peer.region}", "forwarded_by_holder")
        except ResourceExhausted:
            self._metrics.forwarded(peer.region, FORWARD_RATE_LIMITED)
            return False
        return True

    def _timeout(self, peer: Peer) -> float | None:
        """The peer's timeout, cut to the caller's deadline less a margin (None: no time)."""
        left = remaining_seconds()
        if left is None:
            return peer.timeout_seconds
        left -= DEADLINE_MARGIN
        return min(peer.timeout_seconds, left) if left > 0.01 else None

    def _stub(self, peer: Peer) -> Any:
        with self._lock:
            stub = self._stubs.get(peer.region)
            if stub is None:
                creds = grpc.ssl_channel_credentials(
                    peer.ca_pem, self.config.key_pem, self.config.cert_pem
                )
                channel = grpc.secure_channel(peer.endpoint, creds)
                stub = self._stubs[peer.region] = fpb_grpc.FederationStub(channel)
                stub.channel = channel
            return stub

    def _answers(
        self,
        caller: Caller,
        peer: Peer,
        asks: Sequence[Ask],
        response: fpb.FederatedVerifyResponse,
        assertion_sha256: str,
        now: datetime,
    ) -> list[ForwardedResult]:
        receipt = response.receipt
        stated = [
            Stated(verdict_of(v).value, v.licence_id, v.content_sha256, v.receipt_id)
            for v in response.results
        ]
        problem = receipt_problem(
            receipt.body_json.encode(),
            receipt.signature.key_id,
            receipt.signature.algorithm,
            receipt.signature.value,
            keys=peer.receipt_keys,
            receipt_id=receipt.receipt_id,
            department=caller.code,
            own_region=self.config.region,
            assertion_sha256=assertion_sha256,
            answers=stated if len(stated) == len(asks) else [],
        )
        if problem or len(stated) != len(asks):
            log.warning("federation peer %s: receipt does not verify (%s)", peer.region, problem)
            self._metrics.forwarded(peer.region, PEER_RECEIPT_INVALID)
            return self._unable(peer, asks, now, PEER_RECEIPT_INVALID)
        self._metrics.forwarded(peer.region, "ANSWERED")
        receipt_sha = sha256_hex(receipt.body_json.encode() + receipt.signature.value)
        return [
            forwarded(peer, ask, v, receipt.receipt_id, receipt_sha, now)
            for ask, v in zip(asks, response.results, strict=True)
        ]

    def _unable(
        self, peer: Peer, asks: Sequence[Ask], now: datetime, reason: str
    ) -> list[ForwardedResult]:
        """CANNOT_CHECK for each item, with ``reason``."""
        decision = Decision(Verdict.CANNOT_CHECK, reason)
        return [
            result_for(
                peer, ask, decision, HolderMatch.NOT_PRESENTED, HolderMatch.NOT_PRESENTED, now
            )
            for ask in asks
        ]


def _unavailable(peer: Peer) -> Unavailable:
    return Unavailable(
        f"region {peer.region} cannot be reached right now; retry later",
        reason=REGION_UNAVAILABLE,
    )
