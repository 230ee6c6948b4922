"""Assistance across regions, the providing side: the ``Federation`` RPCs a peer region calls
for its departments — this region's catalogue, a request to one of its items, the request as it
stands, urging it. Each is checked as the verification calls are (policy for the peer, assertion
fresh and unused, the peer's rate limit), then handled by this region's
:class:`~services.assistance.service.AssistanceService` as the asserted department *of that
region*: the request is stored under both (``requester_region``), answered, refused and
supervised here like any other, its decision signed with this region's key, and only that
department from that region may read or urge it (and, where this region's policy allows,
that region's supervisors may urge it).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError, Message

from services.assistance.grpc_servicer import AssistanceServicer
from services.assistance.service import AssistanceService, ItemFilter
from services.common.errors import InvalidArgument, PermissionDenied, Unavailable
from services.common.identity import Caller
from services.federation.config import Peer
from services.federation.evidence import Asserted
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import federation_pb2 as fpb


def _parsed(kind: type[Message], payload: bytes) -> Any:
    try:
        return kind.FromString(payload)
    except DecodeError:
        raise InvalidArgument.field(
            "request", f"is not a {kind.DESCRIPTOR.name}", "FORMAT"
        ) from None


class AssistanceAnswering:
    """The assistance part of the ``Federation`` service (mixed into its servicer)."""

    assistance: AssistanceService | None

    def _caller(self, *args: Any, **kwargs: Any) -> tuple[Any, Caller]:  # the servicer's
        raise NotImplementedError

    def _caller_asserted(  # the servicer's
        self, *args: Any, **kwargs: Any
    ) -> tuple[Peer, Caller, Asserted]:
        raise NotImplementedError

    def served(self, answer: Any) -> Any:  # the servicer's
        raise NotImplementedError

    def _assisted(
        self, rpc: str, request: fpb.FederatedAssistanceRequest, kind: type[Message]
    ) -> tuple[Caller, Any, AssistanceServicer]:
        _, caller = self._caller(rpc, request, request.request, lambda: 1)
        assistance = self._served_assistance()
        return caller, _parsed(kind, request.request), AssistanceServicer(assistance)

    def _served_assistance(self) -> AssistanceService:
        if self.assistance is None:
            raise Unavailable(
                "assistance is not served by this region's server", reason="NOT_SERVED"
            )
        return self.assistance

    def ListAssistanceItems(self, request: fpb.FederatedAssistanceRequest, context: Any) -> Any:
        def answer() -> Any:
            _, _, out = self._assisted("ListAssistanceItems", request, apb.ListItemsRequest)
            assert self.assistance is not None
            items = self.assistance.items(ItemFilter())
            return fpb.FederatedAssistanceResponse(items=[out.item_out(i) for i in items])

        return self.served(answer)

    def SubmitAssistance(self, request: fpb.FederatedAssistanceRequest, context: Any) -> Any:
        def answer() -> Any:
            caller, asked, out = self._assisted(
                "SubmitAssistance", request, apb.SubmitRequestRequest
            )
            assert self.assistance is not None
            submitted = self.assistance.submit(
                caller,
                asked.idempotency_key,
                asked.item_code,
                asked.holder_number,
                asked.purpose,
                asked.legal_basis,
                asked.case_number,
                list(asked.requested_fields),
                asked.consent_grant_id,
            )
            return fpb.FederatedAssistanceResponse(request=_out(out, submitted))

        return self.served(answer)

    def GetAssistance(self, request: fpb.FederatedAssistanceRequest, context: Any) -> Any:
        def answer() -> Any:
            caller, asked, out = self._assisted("GetAssistance", request, apb.GetRequestRequest)
            assert self.assistance is not None
            found = self.assistance.get(caller, asked.request_id)
            return fpb.FederatedAssistanceResponse(request=_out(out, found))

        return self.served(answer)

    def UrgeAssistance(self, request: fpb.FederatedAssistanceRequest, context: Any) -> Any:
        """催办 by the requesting department, or by a supervisor of the requesting region (the
        assertion states ``acting_as: supervisor``) when this region's policy for that peer
        allows it (``allow.supervisors``): the urging is recorded under the supervisor's code,
        as a local supervisor's, for a request from that region only."""

        def answer() -> Any:
            peer, caller, asserted = self._caller_asserted(
                "UrgeAssistance", request, request.request, lambda: 1
            )
            if asserted.supervisor and not peer.allow.supervisors:
                raise PermissionDenied(
                    f"region {peer.region}'s supervisors may not urge requests here",
                    reason="FEDERATION_SUPERVISION_NOT_ALLOWED",
                )
            assistance = self._served_assistance()
            asked = _parsed(apb.UrgeRequest, request.request)
            urged = assistance.urge(
                caller, asked.request_id, asked.note, region_supervisor=asserted.supervisor
            )
            return fpb.FederatedAssistanceResponse(
                request=_out(AssistanceServicer(assistance), urged)
            )

        return self.served(answer)


def _out(out: AssistanceServicer, request: Any) -> apb.AssistanceRequest:
    message = out.request_out(request)
    message.requester_region = request.requester_region
    return message
