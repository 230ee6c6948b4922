"""Consent messages ↔ the consent use case's values (transport only)."""

from __future__ import annotations

from services.common.canonical import canonical_json
from services.common.identifiers import HolderKind
from services.common.wire import instant_in, timestamp
from services.licence_store.consents import CheckAnswer, GrantTerms, GrantView
from services.licence_store.convert import HOLDER_KINDS
from services.licence_store.domain.consent import ConsentState
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

STATES = {
    ConsentState.ACTIVE: pb.CONSENT_STATE_ACTIVE,
    ConsentState.EXPIRED: pb.CONSENT_STATE_EXPIRED,
    ConsentState.REVOKED: pb.CONSENT_STATE_REVOKED,
}


def terms_in(msg: pb.GrantConsentRequest) -> GrantTerms:
    """What the portal grants (an unset expiry stays None: the rule says it is required)."""
    return GrantTerms(
        holder_number=msg.holder_number,
        department_code=msg.department_code,
        type_codes=tuple(msg.type_codes),
        licence_id=msg.licence_id,
        item_code=msg.item_code,
        case_number=msg.case_number,
        expires_at=instant_in(msg.expires_at, "expires_at") if msg.HasField("expires_at") else None,
        valid_days=msg.valid_days,
        idempotency_key=msg.idempotency_key,
        acting_person=msg.acting_person,
    )


def grant_out(view: GrantView) -> pb.ConsentGrant:
    """A grant as answered: the holder's number masked, the signed body and signature."""
    g = view.grant
    return pb.ConsentGrant(
        grant_id=g.grant_id,
        holder=common.Holder(kind=HOLDER_KINDS[HolderKind(g.holder_kind)], number=g.holder_masked),
        department_code=g.department_code,
        type_codes=list(g.type_codes),
        licence_id=g.licence_id,
        item_code=g.item_code,
        case_number=g.case_number,
        granted_at=timestamp(g.granted_at),
        expires_at=timestamp(g.expires_at),
        revoked_at=timestamp(g.revoked_at),
        state=STATES[view.state],
        portal_code=g.portal_code,
        granted_by=g.granted_by,
        revoked_by=g.revoked_by,
        body_json=canonical_json(g.body()).decode(),
        signature=common.Signature(key_id=g.key_id, algorithm="Ed25519", value=g.signature),
        uses=[
            pb.ConsentUse(
                department_code=u.department_code,
                channel=u.channel,
                what=u.what,
                outcome=u.outcome,
                at=timestamp(u.at),
            )
            for u in view.uses
        ],
    )


def check_out(answer: CheckAnswer) -> pb.ConsentCheck:
    """Whether a grant authorises a read, and the holder's own reason when it does not."""
    return pb.ConsentCheck(
        allowed=answer.allowed,
        reason=answer.reason,
        grant=grant_out(answer.view) if answer.view is not None else None,
    )
