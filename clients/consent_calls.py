"""The holder's consent (授权用证): grant, list, revoke and check consent grants.

The holder portal grants, revokes and checks for the person it authenticated; any department
lists the grants given to it (``list_consents()`` without a holder number). A department
carries a grant's id on the reads it authorises (``consent_grant_id=`` on
``list_licences_by_holder``, ``verify_by_holder``, ``check_materials`` and
``submit_request``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from clients.calls import Calls, new_idempotency_key, request_of
from yihao.v1 import licence_store_pb2 as pb

__all__ = ["ConsentCalls"]


class ConsentCalls(Calls):
    """One method per consent RPC of the LicenceStore service."""

    def grant_consent(
        self,
        request: pb.GrantConsentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        expires: datetime | None = None,
        **fields: Any,
    ) -> pb.ConsentGrant:
        """The holder (through the portal) grants a department named licence types (or one
        licence) for one matter until ``expires`` (or ``expires_at``). A fresh
        ``idempotency_key`` is set when empty, so a retry gets the same grant, not a second."""
        req = request_of(pb.GrantConsentRequest, request, fields)
        if not req.idempotency_key:
            req.idempotency_key = new_idempotency_key()
        if expires is not None:
            stamp = Timestamp()
            stamp.FromDatetime(expires)
            req.expires_at.CopyFrom(stamp)
        return self._unary(self._store.GrantConsent, req, pb.ConsentGrant, timeout)

    def list_consents(
        self,
        request: pb.ListConsentsRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ListConsentsResponse:
        """Holder side (the portal, with ``holder_number``): the holder's grants and their
        uses; department side (no holder number): the grants given to the caller."""
        req = request_of(pb.ListConsentsRequest, request, fields)
        return self._unary(self._store.ListConsents, req, pb.ListConsentsResponse, timeout)

    def revoke_consent(
        self,
        request: pb.RevokeConsentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ConsentGrant:
        """The holder withdraws a grant (the portal, naming the holder)."""
        req = request_of(pb.RevokeConsentRequest, request, fields)
        return self._unary(self._store.RevokeConsent, req, pb.ConsentGrant, timeout)

    def check_consent(
        self,
        request: pb.CheckConsentRequest | None = None,
        /,
        *,
        timeout: float | None = None,
        **fields: Any,
    ) -> pb.ConsentCheck:
        """Holder side: would this grant authorise this read, and if not, exactly why."""
        req = request_of(pb.CheckConsentRequest, request, fields)
        return self._unary(self._store.CheckConsent, req, pb.ConsentCheck, timeout)
