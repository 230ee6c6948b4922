"""The licence store through a real gRPC server with mutual TLS, on SQLite and PostgreSQL:
a licence's life after issue — change, renew, status actions and their reasons, expiry at
the moment of the question, history — and unknown or malformed licence identifiers.
"""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from services.common.clock import FixedClock
from tests.licence_store.grpc_service_helpers import (
    BUSINESS,
    BUSINESS_FIELDS,
    by_id,
    details,
    issue_business,
    issue_residence,
    status_request,
)
from testsupport.why import WHY
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

# ---------------------------------------------------------------------------------- lifecycle


def test_change_makes_a_new_version_and_keeps_the_old_one_readable(stack):
    store = stack.store("market")
    v1 = issue_business(stack)
    v2 = store.ChangeLicence(
        pb.ChangeLicenceRequest(
            idempotency_key="change-key-1",
            licence=by_id(v1.licence_id),
            fields={"address": "福州市仓山区新址路8号"},
            reason="住所变更",
        )
    )
    assert v2.version == 2
    assert v2.fields["address"] == "福州市仓山区新址路8号"
    assert v2.licence_id != v1.licence_id
    old = store.GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(v2.licence_id), version=1))
    assert old.fields["address"] == BUSINESS_FIELDS["address"]
    assert old.licence_id == v1.licence_id
    # An identifier of any version names the licence.
    current = store.GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(v1.licence_id)))
    assert current.version == 2


def test_only_the_issuer_may_change_a_licence(stack):
    licence = issue_residence(stack, "R-1")
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").SuspendLicence(status_request(licence.licence_id, "INVESTIGATION"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_renew_extends_validity(stack):
    licence = issue_residence(stack, "R-renew")
    assert licence.valid_until == "2027-05-31"
    renewed = stack.store("police").RenewLicence(
        pb.RenewLicenceRequest(
            licence=by_id(licence.licence_id), valid_until="2028-05-31", reason="到期换领"
        )
    )
    assert (renewed.version, renewed.valid_until) == (2, "2028-05-31")
    history = stack.store("police").GetLicenceHistory(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert (history.events[-1].kind, history.events[-1].reason_text) == (
        pb.EVENT_KIND_RENEWED,
        "到期换领",
    )


def test_change_and_renew_reasons_are_checked_text(stack):
    licence = issue_residence(stack, "R-reason")
    for call, request in [
        (
            stack.store("police").ChangeLicence,
            pb.ChangeLicenceRequest(
                licence=by_id(licence.licence_id), holder_name="新名", reason="x" * 501
            ),
        ),
        (
            stack.store("police").RenewLicence,
            pb.RenewLicenceRequest(licence=by_id(licence.licence_id), reason="bad\x07bell"),
        ),
    ]:
        with pytest.raises(grpc.RpcError) as caught:
            call(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details(caught.value)[0][0][0] == "reason"
    again = stack.store("police").GetLicence(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert again.version == 1  # nothing was half-applied


def test_status_machine_and_illegal_transition(stack):
    store = stack.store("market")
    licence = issue_business(stack)
    suspended = store.SuspendLicence(status_request(licence.licence_id, "INVESTIGATION"))
    assert suspended.effective_status == common.EFFECTIVE_STATUS_SUSPENDED
    reinstated = store.ReinstateLicence(status_request(licence.licence_id, "INVESTIGATION_CLOSED"))
    assert reinstated.effective_status == common.EFFECTIVE_STATUS_VALID
    revoked = store.RevokeLicence(status_request(licence.licence_id, "FRAUD", "虚假登记"))
    assert revoked.status == common.LICENCE_STATUS_REVOKED
    assert (revoked.status_reason_code, revoked.status_reason_text) == ("FRAUD", "虚假登记")
    for call, code in [(store.ReinstateLicence, "OTHER"), (store.CancelLicence, "REPLACED")]:
        with pytest.raises(grpc.RpcError) as caught:
            call(status_request(licence.licence_id, code, "x"))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "REVOKED" in caught.value.details()


def test_reason_code_must_fit_the_action(stack):
    licence = issue_business(stack)
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").RevokeLicence(status_request(licence.licence_id, "HOLDER_DECEASED"))
    assert details(caught.value)[0][0][:2] == ("reason_code", "REASON_CODE")
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").CancelLicence(status_request(licence.licence_id, "OTHER"))
    assert details(caught.value)[0][0][:2] == ("reason_text", "REQUIRED")


def test_expiry_is_computed_at_the_moment_of_the_question(stack, clock: FixedClock):
    licence = issue_residence(stack, "R-expiry")
    clock.advance(timedelta(days=366))
    again = stack.store("police").GetLicence(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert again.status == common.LICENCE_STATUS_ACTIVE
    assert again.effective_status == common.EFFECTIVE_STATUS_EXPIRED


def test_history_lists_versions_and_events(stack):
    store = stack.store("market")
    licence = issue_business(stack)
    store.ChangeLicence(
        pb.ChangeLicenceRequest(
            licence=by_id(licence.licence_id), holder_name="福州新名称有限公司", reason="更名"
        )
    )
    store.RevokeLicence(status_request(licence.licence_id, "VIOLATION"))
    history = store.GetLicenceHistory(
        pb.GetLicenceRequest(**WHY, licence=by_id(licence.licence_id))
    )
    assert [v.version for v in history.versions] == [1, 2]
    assert [e.kind for e in history.events] == [
        pb.EVENT_KIND_ISSUED,
        pb.EVENT_KIND_CHANGED,
        pb.EVENT_KIND_REVOKED,
    ]
    assert history.events[-1].reason_code == "VIOLATION"
    assert (history.events[1].reason_code, history.events[1].reason_text) == ("", "更名")
    assert history.events[0].reason_text == ""


def test_unknown_licence_is_not_found(stack):
    missing = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(missing)))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    ref = pb.LicenceRef(type_and_number=pb.TypeAndNumber(type_code=BUSINESS, licence_number="no"))
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicence(pb.GetLicenceRequest(**WHY, licence=ref))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_identifier_is_invalid_argument(stack):
    bad = (
        "1.2.156.3005.2.11100000000013661B006.113700000045046442."
        "209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
    )
    with pytest.raises(grpc.RpcError) as caught:
        stack.store("market").GetLicence(pb.GetLicenceRequest(**WHY, licence=by_id(bad)))
    violations, _ = details(caught.value)
    assert violations[0][:2] == ("licence.licence_id", "CHECK_CHARACTER")
    assert "'D'" in violations[0][2]
