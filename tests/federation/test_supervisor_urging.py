"""A peer region's supervisor urges a request its department sent here only where this region's
policy for that peer allows supervisors (``allow.supervisors``); the real regions' test
(test_regions_assistance) covers the allowed path end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from services.common.errors import PermissionDenied
from services.common.identity import Caller
from services.federation.assistance_servicer import AssistanceAnswering
from services.federation.config import Allow
from services.federation.evidence import Asserted
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import federation_pb2 as fpb

SUPERVISOR = "11310000000000000X"


class Urged(Exception):
    """Raised by the fake service: the urging reached it, with these arguments."""


class FakeAssistance:
    def urge(self, caller: Caller, request_id: str, note: str, **kwargs: Any) -> Any:
        raise Urged(caller, request_id, note, kwargs)


class Answering(AssistanceAnswering):
    def __init__(self, supervisors: bool, acting_as_supervisor: bool) -> None:
        self.assistance = FakeAssistance()  # type: ignore[assignment]
        self.peer = SimpleNamespace(
            region="31", allow=Allow(frozenset({"UrgeAssistance"}), frozenset(), supervisors)
        )
        self.acting = acting_as_supervisor

    def _caller_asserted(self, *args: Any, **kwargs: Any) -> Any:
        at = datetime(2026, 12, 4, tzinfo=UTC)
        asserted = Asserted(
            "F1", "n" * 32, at, SUPERVISOR, "", "", "", "31", "UrgeAssistance", "0" * 64,
            supervisor=self.acting,
        )  # fmt: skip
        return self.peer, Caller(SUPERVISOR, region="31"), asserted

    def served(self, answer: Any) -> Any:
        return answer()


def _urge(answering: Answering) -> Any:
    asked = apb.UrgeRequest(request_id="A1", note="督办").SerializeToString()
    return answering.UrgeAssistance(fpb.FederatedAssistanceRequest(request=asked), None)


def test_a_peers_supervisor_is_refused_unless_the_policy_allows_supervisors():
    with pytest.raises(PermissionDenied) as refused:
        _urge(Answering(supervisors=False, acting_as_supervisor=True))
    assert refused.value.reason == "FEDERATION_SUPERVISION_NOT_ALLOWED"
    assert "31" in str(refused.value)
    with pytest.raises(Urged) as urged:
        _urge(Answering(supervisors=True, acting_as_supervisor=True))
    assert urged.value.args == (
        Caller(SUPERVISOR, region="31"),
        "A1",
        "督办",
        {"region_supervisor": True},
    )
    # the requesting department itself needs no such policy
    with pytest.raises(Urged) as own:
        _urge(Answering(supervisors=False, acting_as_supervisor=False))
    assert own.value.args[3] == {"region_supervisor": False}
