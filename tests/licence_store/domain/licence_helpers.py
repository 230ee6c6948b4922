"""What the e-licence unit tests share: two licence types, their sample data, licences issued
from them, a licence brought to any status, and a check that a refused call changed nothing.

Plain Python, no I/O, never the real clock: every instant is a fixed, timezone-aware UTC
datetime. Validity dates are calendar dates in China (UTC+8), so several tests sit on the
16:00Z boundary where the Chinese date changes.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from services.common.identifiers import HolderKind, HolderNumber
from services.licence_store.domain.catalogue import FieldSpec, FieldType, LicenceType
from services.licence_store.domain.licence import Action, Event, Licence, Reason, Status

NATIONAL_DEFINER = "11100000000013338W"
POLICE = "11350100131860916B"
MARKET = "1135010052601815X2"
DATA_BUREAU = "11350100518190937A"
PERSON = HolderNumber(HolderKind.PERSON, "11010519491231002X")
COMPANY = HolderNumber(HolderKind.ORGANISATION, "91110000600037341L")

#: 10:00 on 1 March 2026 in China.
AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
LATER = AT + timedelta(days=10)

F = FieldType
RESIDENCE_PERMIT = LicenceType(
    type_code=f"{NATIONAL_DEFINER}009",
    name="居住证",
    holder_kind=HolderKind.PERSON,
    fields=(
        FieldSpec("sex", "性别", F.STRING, required=True, max_length=2),
        FieldSpec("residence_address", "居住地址", F.STRING, required=True, sensitive=True),
        FieldSpec("issuing_office", "签发机关", F.STRING, required=True),
        FieldSpec("endorsed_until", "签注有效期至", F.DATE),
        FieldSpec("renewals", "签注次数", F.INTEGER),
    ),
    default_validity_days=365,
    issuer_codes=frozenset({POLICE}),
)
PERMIT_DATA = {
    "sex": "女",
    "residence_address": "福州市鼓楼区五四路1号",
    "issuing_office": "福州市公安局鼓楼分局",
}
BUSINESS_LICENCE = LicenceType(
    type_code=f"{NATIONAL_DEFINER}011",
    name="营业执照",
    holder_kind=HolderKind.ORGANISATION,
    fields=(
        FieldSpec("legal_representative", "法定代表人", F.STRING, required=True),
        FieldSpec("registered_capital", "注册资本（万元）", F.DECIMAL, required=True),
        FieldSpec("established_on", "成立日期", F.DATE, required=True),
        FieldSpec("listed", "上市", F.BOOLEAN),
        FieldSpec("employees", "从业人数", F.INTEGER),
    ),
    default_validity_days=0,
    issuer_codes=frozenset({MARKET}),
)
BUSINESS_DATA = {
    "legal_representative": "张三",
    "registered_capital": "1000.50",
    "established_on": "2015-06-01",
}


def issue_permit(**overrides) -> Licence:
    arguments = {
        "licence_type": RESIDENCE_PERMIT,
        "issuer_code": POLICE,
        "licence_number": "闽A2026000001",
        "holder": PERSON,
        "holder_name": "李四",
        "data": PERMIT_DATA,
        "valid_from": None,
        "valid_until": None,
        "at": AT,
    }
    return Licence.issue(**{**arguments, **overrides})


def issue_business(**overrides) -> Licence:
    arguments = {
        "licence_type": BUSINESS_LICENCE,
        "issuer_code": MARKET,
        "licence_number": "91350100MA2XYZ0001",
        "holder": COMPANY,
        "holder_name": "福州某某科技有限公司",
        "data": BUSINESS_DATA,
        "valid_from": None,
        "valid_until": None,
        "at": AT,
    }
    return Licence.issue(**{**arguments, **overrides})


def reason_for(action: Action) -> Reason:
    return Reason.for_action(action, "OTHER", f"test: {action.verb}")


PATH_TO: dict[Status, tuple[Action, ...]] = {
    Status.ACTIVE: (),
    Status.SUSPENDED: (Action.SUSPEND,),
    Status.REVOKED: (Action.REVOKE,),
    Status.CANCELLED: (Action.CANCEL,),
}


def permit_in(status: Status) -> Licence:
    """A fresh permit brought to ``status``, its events already drained."""
    licence = issue_permit()
    for action in PATH_TO[status]:
        licence.apply(action, reason_for(action), POLICE, AT)
    licence.take_events()
    assert licence.status is status
    return licence


def snapshot(licence: Licence) -> tuple[Licence, list[Event]]:
    return copy.deepcopy(licence), list(licence.pending_events)


def assert_unchanged(licence: Licence, before: tuple[Licence, list[Event]]) -> None:
    assert licence == before[0]
    assert licence.pending_events == before[1]


def change(licence: Licence, data: dict[str, str], name: str = "", at: datetime = LATER) -> None:
    licence.change(RESIDENCE_PERMIT, data, name, DATA_BUREAU, at)
