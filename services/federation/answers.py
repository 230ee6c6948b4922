"""What a peer region answered, as this region's records hold it: one
:class:`~services.verifier.results.ForwardedResult` per question (plain functions over the
answer's messages, used by :mod:`services.federation.forwarder`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from services.common.identifiers import parse_holder_number
from services.federation.config import Peer
from services.verifier.domain.document import decode_qr
from services.verifier.domain.verdict import Decision, HolderMatch, Verdict
from services.verifier.messages import asked_in
from services.verifier.results import ForwardedResult, Presented, asked_record, presented_with
from yihao.v1 import verifier_pb2 as pb


def verdict_of(v: pb.Verification) -> Verdict:
    name = pb.Verdict.Name(v.verdict).removeprefix("VERDICT_")
    return Verdict[name] if name in Verdict.__members__ else Verdict.CANNOT_CHECK


def match_of(value: int) -> HolderMatch:
    name = pb.HolderMatch.Name(value).removeprefix("HOLDER_MATCH_")
    return HolderMatch[name] if name in HolderMatch.__members__ else HolderMatch.NOT_PRESENTED


class Ask(NamedTuple):
    """What one forwarded question asked, as this region's receipt records it."""

    record: dict[str, Any]
    presented: Presented
    as_of: datetime | None = None


def asked_item(item: pb.VerifyLicenceRequest) -> Ask:
    asked = asked_in(item)
    raw = item.presented_holder_number
    holder = parse_holder_number(raw, "presented_holder_number") if raw.strip() else None
    presented = presented_with(holder, asked)
    return Ask(asked_record(asked.ref, presented), presented, asked.as_of)


def document_licence_id(request: pb.VerifyDocumentRequest) -> str:
    """The licence id a presented document or QR payload names ("" if none can be read)."""
    which = request.WhichOneof("document")
    try:
        if which == "signed_document":
            content = json.loads(request.signed_document.content_json)
            return str(content.get("licence_id", "")) if isinstance(content, dict) else ""
        if which == "qr_payload":
            qr = decode_qr(request.qr_payload, lambda _k, _raw, _sig: False)
            return str(qr.body.get("lid", "")) if qr is not None else ""
    except (ValueError, RecursionError):
        return ""
    return ""


def result_for(
    peer: Peer,
    ask: Ask,
    decision: Decision,
    number: HolderMatch,
    name: HolderMatch,
    now: datetime,
    **fields: Any,
) -> ForwardedResult:
    presented = ask.presented
    holder = presented.holder_number
    return ForwardedResult(
        decision,
        number,
        name,
        checked_at=now,
        as_of=ask.as_of or now,
        checks=tuple(fields.pop("checks", ("federation",))),
        asked={**ask.record, "forwarded_to": peer.region},
        client_ref=presented.client_ref,
        why=presented.why,
        region=peer.region,
        matched_holder=holder if number is HolderMatch.MATCH else None,
        **fields,
    )


def forwarded(
    peer: Peer,
    ask: Ask,
    v: pb.Verification,
    receipt_id: str,
    receipt_sha256: str,
    now: datetime,
) -> ForwardedResult:
    return result_for(
        peer,
        ask,
        Decision(verdict_of(v), v.reason),
        match_of(v.holder_number_match),
        match_of(v.holder_name_match),
        now,
        checks=tuple(v.policy.checks),
        type_name=v.type_name,
        issuer_name=v.issuer_name,
        wire=v.SerializeToString(),
        licence_id=v.licence_id,
        version=v.version,
        content_sha256=v.content_sha256,
        peer_receipt_id=receipt_id,
        peer_receipt_sha256=receipt_sha256,
        document_authentic=v.document_authentic,
    )
