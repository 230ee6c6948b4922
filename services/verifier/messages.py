"""The verifier's messages: proto in (references, questions), proto out (verifications,
receipts, materials, tree heads), and the per-chunk cache of answer messages. Used by the
servicer (:mod:`services.verifier.grpc_servicer`) and by federation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from services.common.errors import YihaoError
from services.common.textcheck import refuse_nul
from services.common.wire import instant_in, timestamp
from services.licence_store.reader import ref_in
from services.verifier.batch import Chunk
from services.verifier.domain.verdict import STANDARD_CHECKS, HolderMatch, Integrity, Verdict
from services.verifier.materials import Material, ServiceItem
from services.verifier.results import (
    EXISTENCE,
    Answer,
    Asked,
    ForwardedResult,
    Presented,
    Result,
)
from yihao.v1 import common_pb2 as common
from yihao.v1 import verifier_pb2 as pb

#: Items one VerifyBatch request message may carry (each message gets one receipt, and one
#: answer message). The largest answer a server can give to one item is 2,868 bytes (every
#: part is bounded: catalogue names, licence number, client_ref, a malformed item's reason;
#: tests/verifier/test_batch_size.py builds it from the proto), so 1,000 answers take at most
#: 2.9 MB, under the 4 MiB message limit; 10,000 (the maximum until 2026-12) could not fit.
MAX_BATCH_ITEMS = 1_000
WIRE_CACHE_SIZE = 100_000
VERDICTS: Final = {v: getattr(pb, f"VERDICT_{v.name}") for v in Verdict}
MATCHES: Final = {m: getattr(pb, f"HOLDER_MATCH_{m.name}") for m in HolderMatch}


def presented_in(request: pb.VerifyLicenceRequest) -> Presented:
    """What the applicant presented, validated."""
    as_of = instant_in(request.as_of, "as_of") if request.HasField("as_of") else None
    return Presented.parse(
        request.presented_holder_number,
        request.presented_holder_name,
        as_of,
        purpose=request.purpose,
        case_number=request.case_number,
        client_ref=request.client_ref,
    )


def verification_out(result: Result) -> pb.Verification:
    """A verification for an answer (stored holder never included)."""
    if isinstance(result, ForwardedResult) and result.wire:
        return _forwarded_out(result)
    msg = pb.Verification(
        verdict=VERDICTS[result.decision.verdict],
        reason=result.decision.reason,
        holder_number_match=MATCHES[result.number_match],
        holder_name_match=MATCHES[result.name_match],
        policy=pb.Policy(checks=list(result.checks), as_of=timestamp(result.as_of)),
        receipt_id=result.receipt_id,
        checked_at=timestamp(result.checked_at),
        client_ref=result.client_ref,
        document_authentic=result.document_authentic,
        type_name=result.type_name,
        issuer_name=result.issuer_name,
        holder_match_refusal=result.refusal,
    )
    if result.stored is not None:
        lic, signed = result.stored.licence, result.stored.signed
        msg.licence_id = signed.licence_id
        msg.type_code = lic.type_code
        msg.licence_number = lic.licence_number
        msg.issuer_code = lic.issuer_code
        msg.valid_from = lic.validity.valid_from.isoformat()
        msg.valid_until = lic.validity.valid_until.isoformat() if lic.validity.valid_until else ""
        msg.version = lic.version
        msg.signature_verified = (
            result.integrity is not None and result.integrity.value == "SIGNATURE_VERIFIED"
        )
        msg.signature_key_id = signed.key_id
        msg.content_sha256 = signed.content_sha256
        msg.status_reason_code = lic.status_reason.code if lic.status_reason else ""
    if isinstance(result, ForwardedResult):  # a region that could not answer: CANNOT_CHECK
        msg.region = result.region
    return msg


def _forwarded_out(result: ForwardedResult) -> pb.Verification:
    """The owning region's answer as it came, with this region's receipt (federation)."""
    msg = pb.Verification.FromString(result.wire)
    msg.peer_receipt_id = result.peer_receipt_id
    msg.receipt_id = result.receipt_id
    msg.region = result.region
    msg.client_ref = result.client_ref
    return msg


def asked_in(request: pb.VerifyLicenceRequest) -> Asked:
    """A verification request as plain values (validated by the service)."""
    as_of = instant_in(request.as_of, "as_of") if request.HasField("as_of") else None
    ref = request.licence
    if ref.WhichOneof("ref") != "type_and_number":
        type_code = licence_number = ""
        by_number = False
    else:
        tn = ref.type_and_number
        type_code, licence_number, by_number = tn.type_code, tn.licence_number, True
    return Asked(
        ref.licence_id,
        type_code,
        licence_number,
        request.presented_holder_number,
        request.presented_holder_name,
        request.purpose,
        request.case_number,
        request.client_ref,
        as_of,
        by_number,
    )


def batch_item(request: pb.VerifyLicenceRequest) -> Asked:
    """One batch item; a malformed one is answered on its own, never ending the stream."""
    try:
        asked = asked_in(request)
        if "\x00" in "".join(asked[:8]):  # every string of the request (see Asked)
            refuse_nul(request)
        if not (asked.licence_id or asked.by_number):
            ref_in(request.licence)  # names no licence: say how to name one
    except YihaoError as exc:
        return Asked(client_ref=request.client_ref, refused=exc)
    return asked


class Wire:
    """Fast-path answers as protobuf. What an answer says about its licence version and
    outcome (identifiers, names, dates, key, hash, verdict, matches) is serialised once and
    reused; the chunk's receipt, instant and policy once per chunk; merged per item."""

    def __init__(self, size: int = WIRE_CACHE_SIZE) -> None:
        self._size = size
        self._outcomes: dict[tuple[Any, ...], bytes] = {}
        #: The last instant a VerifyLicence answer was stamped with, and its parts encoded
        #: (by set of checks): the calls of one round share it.
        self._stamped: tuple[datetime | None, dict[tuple[str, ...], bytes]] = (None, {})

    def verification(self, chunk: Chunk) -> bytes | pb.Verification:
        """A chunk's one answer (VerifyLicence): a fast-path answer as its ``Verification``
        already encoded (see ``grpc_servicer.add_to_server``) — its outcome's cached bytes,
        the instant and policy (encoded once per instant: one round's calls share it), its
        receipt and its ``client_ref`` — any other answer as its message."""
        (a,) = chunk.answers
        if not isinstance(a, Answer):
            return verification_out(replace(a, receipt_id=chunk.receipt_id))
        at, checks = chunk.checked_at, a.checks
        stamped = self._stamped
        if stamped[0] != at:
            stamped = self._stamped = (at, {})
        stamp = stamped[1].get(checks)
        if stamp is None:
            stamp = stamped[1][checks] = _stamp(at, checks)
        return self._answer(a, stamp + _field(_RECEIPT, chunk.receipt_id))

    def fill(self, results: Any, chunk: Chunk) -> None:
        """Append one Verification per answer of ``chunk`` to the repeated field ``results``."""
        rid = chunk.receipt_id
        shared = _shared(chunk)
        for a in chunk.answers:
            if not isinstance(a, Answer):
                results.append(verification_out(replace(a, receipt_id=rid)))
                continue
            m = results.add()
            m.MergeFromString(self._outcome(a) + shared[a.checks])
            if a.item.client_ref:
                m.client_ref = a.item.client_ref

    def encode(self, chunk: Chunk) -> bytes:
        """A chunk's whole ``VerifyBatchResponse``, encoded: what :meth:`fill` builds, parsed
        equal, without a message object per answer. Each fast-path answer is its outcome's
        cached bytes, the chunk's shared part and its ``client_ref`` (a message's fields may
        come in any order, and no two parts set the same field), framed as one ``results``
        entry; any other answer is its message serialised."""
        rid = chunk.receipt_id
        shared = _shared(chunk)
        parts: list[bytes] = []
        for a in chunk.answers:
            if isinstance(a, Answer):
                body = self._answer(a, shared[a.checks])
            else:
                body = verification_out(replace(a, receipt_id=rid)).SerializeToString()
            parts.append(_RESULTS + _length(len(body)))
            parts.append(body)
        parts.append(_field(_RECEIPT_ID, rid))
        return b"".join(parts)

    def _answer(self, a: Answer, shared: bytes) -> bytes:
        """A fast-path answer's ``Verification``, encoded: its outcome's cached bytes, what it
        shares with others (``shared``: instant, policy, receipt) and its ``client_ref``."""
        return self._outcome(a) + shared + _field(_CLIENT_REF, a.item.client_ref)

    def _outcome(self, a: Answer) -> bytes:
        d = a.decision
        key = (
            a.vetted,
            a.names,
            d.verdict,
            d.reason,
            a.number_match,
            a.name_match,
            a.status_reason_code,
            a.refusal,
        )
        wire = self._outcomes.get(key)
        if wire is None:
            if len(self._outcomes) >= self._size:
                self._outcomes.clear()
            wire = self._outcomes[key] = _outcome_message(a).SerializeToString()
        return wire


def _shared(chunk: Chunk) -> dict[tuple[str, ...], bytes]:
    """What every fast-path answer of a chunk says alike (receipt, instant, policy), encoded
    once for each set of checks."""
    receipt = _field(_RECEIPT, chunk.receipt_id)
    return {
        checks: _stamp(chunk.checked_at, checks) + receipt
        for checks in (STANDARD_CHECKS, EXISTENCE)
    }


def _stamp(at: datetime, checks: tuple[str, ...]) -> bytes:
    """The instant and policy of an answer checked at ``at`` under ``checks``, encoded: the
    bytes ``Verification(checked_at=…, policy=Policy(checks=…, as_of=…))`` serialises to
    (fields in number order: policy 16, then checked_at 18), written here — a unary answer is
    stamped once a round, and the messages and ``Timestamp.FromDatetime`` cost more than the
    rest of its encoding. An instant before 1970 or without a time zone (never a check's)
    goes through protobuf itself."""
    if at.tzinfo is None or at < _EPOCH:
        return _stamp_by_protobuf(at, checks)
    since = at - _EPOCH
    ts = b""
    seconds = since.days * 86400 + since.seconds
    if seconds:
        ts = _TS_SECONDS + _varint(seconds)
    if at.microsecond:
        ts += _TS_NANOS + _varint(at.microsecond * 1000)
    framed = _length(len(ts)) + ts
    listed = _CHECKS.get(checks)
    if listed is None:
        listed = _CHECKS[checks] = b"".join(_POLICY_CHECK + _field_bytes(c) for c in checks)
    policy = listed + _POLICY_AS_OF + framed
    return _POLICY + _length(len(policy)) + policy + _CHECKED_AT + framed


def _stamp_by_protobuf(at: datetime, checks: tuple[str, ...]) -> bytes:
    stamp = timestamp(at)
    return pb.Verification(
        checked_at=stamp, policy=pb.Policy(checks=checks, as_of=stamp)
    ).SerializeToString()


def _field_bytes(text: str) -> bytes:
    """A string's UTF-8 bytes with their length in front (a field's value, without its key)."""
    raw = text.encode()
    return _length(len(raw)) + raw


def _field(key: bytes, text: str) -> bytes:
    """A string field encoded (nothing for an empty string, as protobuf writes it)."""
    return key + _field_bytes(text) if text else b""


def _varint(n: int) -> bytes:
    """``n`` (not negative) as a protobuf varint."""
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


#: Varints of the lengths an answer's parts have (an answer takes at most 2,868 bytes).
_LENGTHS: Final = [_varint(n) for n in range(1 << 14)]


def _length(n: int) -> bytes:
    return _LENGTHS[n] if n < 1 << 14 else _varint(n)


# Field keys (number << 3 | 2: length-delimited) of the fields the Wire writes itself.
_RESULTS: Final = _varint(1 << 3 | 2)  # VerifyBatchResponse.results
_RECEIPT_ID: Final = _varint(2 << 3 | 2)  # VerifyBatchResponse.receipt_id
_RECEIPT: Final = _varint(17 << 3 | 2)  # Verification.receipt_id
_CLIENT_REF: Final = _varint(19 << 3 | 2)  # Verification.client_ref
_POLICY: Final = _varint(16 << 3 | 2)  # Verification.policy
_CHECKED_AT: Final = _varint(18 << 3 | 2)  # Verification.checked_at
_POLICY_CHECK: Final = _varint(1 << 3 | 2)  # Policy.checks
_POLICY_AS_OF: Final = _varint(2 << 3 | 2)  # Policy.as_of
_TS_SECONDS: Final = _varint(1 << 3)  # Timestamp.seconds (varint)
_TS_NANOS: Final = _varint(2 << 3)  # Timestamp.nanos (varint)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Each set of checks' Policy.checks entries, encoded.
_CHECKS: Final[dict[tuple[str, ...], bytes]] = {}


def encoded(response: bytes | Any) -> bytes:
    """A response serializer for a method whose handler may answer bytes already encoded
    (:meth:`Wire.encode`) or a message."""
    return response if isinstance(response, bytes) else response.SerializeToString()


def _outcome_message(a: Answer) -> pb.Verification:
    """What an answer says, apart from the chunk's receipt, instant, policy and client_ref."""
    msg = pb.Verification(
        verdict=VERDICTS[a.decision.verdict],
        reason=a.decision.reason,
        holder_number_match=MATCHES[a.number_match],
        holder_name_match=MATCHES[a.name_match],
        holder_match_refusal=a.refusal,
    )
    v = a.vetted
    if v is not None:
        until = v.validity.valid_until
        msg.licence_id = v.licence_id
        msg.type_code = v.type_code
        msg.type_name, msg.issuer_name = a.names
        msg.licence_number = v.licence_number
        msg.issuer_code = v.issuer_code
        msg.valid_from = v.validity.valid_from.isoformat()
        msg.valid_until = until.isoformat() if until else ""
        msg.version = v.version
        msg.signature_verified = v.integrity is Integrity.VERIFIED
        msg.signature_key_id = v.key_id
        msg.content_sha256 = v.content_sha256
        msg.status_reason_code = a.status_reason_code
    return msg


def receipt_out(receipt: Any) -> pb.Receipt:
    """A receipt for an answer."""
    return pb.Receipt(
        receipt_id=receipt.receipt_id,
        body_json=receipt.body.decode(),
        signature=common.Signature(
            key_id=receipt.key_id, algorithm=receipt.algorithm, value=receipt.signature
        ),
        issued_at=timestamp(receipt.issued_at),
        requester_code=receipt.requester_code,
        verdict=VERDICTS[receipt.verdict] if receipt.verdict else pb.VERDICT_UNSPECIFIED,
        licence_id=receipt.licence_id,
        content_sha256=receipt.content_sha256,
        staff=receipt.staff or "",
    )


def material_out(m: Material) -> pb.Material:
    return pb.Material(name=m.name, licence_type_code=m.licence_type_code, holder_is_applicant=True)


def item_out(item: ServiceItem) -> pb.ServiceItem:
    return pb.ServiceItem(
        code=item.code, name=item.name, materials=[material_out(m) for m in item.materials]
    )


def head_out(head: Any) -> pb.SignedTreeHead:
    """A signed tree head for an answer."""
    return pb.SignedTreeHead(
        tree_size=head.tree_size,
        root_hash=head.root_hash,
        at=timestamp(head.at),
        key_id=head.key_id,
        signature=head.signature,
    )
