"""The desk's calls reach the real services as the account's department and name the staff
member, who is recorded in the licence's event and in the verification receipt."""

from __future__ import annotations

from clients.web.accounts import Account
from testsupport.samples import BUSINESS_FIELDS
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

BUSINESS_LICENCE = "11100000000013338W011"
COMPANY = "91350100M000100Y43"


def test_the_staff_member_is_recorded_in_events_and_receipts(live_desk) -> None:
    backend = live_desk.app.state.desk.backend
    accounts = live_desk.app.state.desk.accounts
    operator: Account = accounts.get("operator")
    handler: Account = accounts.get("handler")
    licence = backend.client(operator).issue_licence(
        type_code=BUSINESS_LICENCE,
        licence_number="DESK-STAFF-1",
        holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
        fields=BUSINESS_FIELDS,
    )
    history = backend.client(operator).get_licence_history(
        licence=pb.LicenceRef(licence_id=licence.licence_id)
    )
    assert [event.staff for event in history.events] == ["operator"]
    answer = backend.client(handler).verify_licence(
        licence=pb.LicenceRef(licence_id=licence.licence_id)
    )
    receipt = live_desk.stack.verifier("hall").GetReceipt(
        vpb.GetReceiptRequest(receipt_id=answer.receipt_id)
    )
    assert (receipt.staff, receipt.requester_code) == ("handler", handler.department)


def test_the_department_roles_come_from_the_services(live_desk) -> None:
    desk = live_desk.app.state.desk
    handler = desk.accounts.get("handler")  # at hall: handler and requester
    operator = desk.accounts.get("operator")  # at market: operator, provider, handler
    assert desk.backend.permits(handler, "handler")
    assert not desk.backend.permits(handler, "operator")
    assert not desk.backend.permits(handler, "supervisor")
    assert desk.backend.permits(operator, "operator") and desk.backend.permits(operator, "admin")
