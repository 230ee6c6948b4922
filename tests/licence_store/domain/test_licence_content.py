"""Unit tests of what an e-licence signs and records: its canonical content (what is in it,
that every change shows in it, that it stays plain JSON) and the events it queues.

Plain Python, no I/O, never the real clock: every instant is a fixed, timezone-aware UTC
datetime. Validity dates are calendar dates in China (UTC+8), so several tests sit on the
16:00Z boundary where the Chinese date changes.
"""

from __future__ import annotations

import copy
from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.common.identifiers import HolderKind, HolderNumber
from services.common.signing import canonical_json
from services.licence_store.domain.licence import Action, EventKind, Reason, Status, Validity
from tests.licence_store.domain.licence_helpers import (
    BUSINESS_DATA,
    COMPANY,
    DATA_BUREAU,
    LATER,
    NATIONAL_DEFINER,
    PERMIT_DATA,
    PERSON,
    POLICE,
    RESIDENCE_PERMIT,
    change,
    issue_business,
    issue_permit,
    reason_for,
)

# --- content ---------------------------------------------------------------------------------


def test_content_is_the_signed_document() -> None:
    licence = issue_permit(data={**PERMIT_DATA, "renewals": "3"})
    assert len(licence.salt) == 32  # 128 secret random bits, signed with the content
    assert licence.content() == {
        "licence_id": str(licence.identifier),
        "type_code": RESIDENCE_PERMIT.type_code,
        "licence_number": "闽A2026000001",
        "issuer_code": POLICE,
        "holder": {"kind": "person", "number": PERSON.value, "name": "李四"},
        "fields": {
            "issuing_office": "福州市公安局鼓楼分局",
            "renewals": 3,
            "residence_address": "福州市鼓楼区五四路1号",
            "sex": "女",
        },
        "valid_from": "2026-03-01",
        "valid_until": "2027-02-28",
        "version": 1,
        "version_at": "2026-03-01T02:00:00+00:00",
        "salt": licence.salt,
    }
    assert str(licence.identifier).endswith(".001." + licence.identifier.check)


def test_content_fields_are_sorted_and_deterministic() -> None:
    licence = issue_business(data={**BUSINESS_DATA, "listed": "true", "employees": "5"})
    content = licence.content()
    assert list(content["fields"]) == sorted(content["fields"])
    assert content["holder"] == {
        "kind": "organisation",
        "number": COMPANY.value,
        "name": "福州某某科技有限公司",
    }
    assert content["valid_until"] is None
    assert canonical_json(licence.content()) == canonical_json(copy.deepcopy(licence).content())


def test_content_is_a_copy() -> None:
    licence = issue_permit()
    licence.content()["fields"]["sex"] = "男"
    assert licence.fields["sex"] == "女"


def _set(name: str, value: object):
    return lambda licence: setattr(licence, name, value)


MUTATIONS = {
    "change field": lambda lic: change(lic, {"sex": "男"}),
    "add field": lambda lic: change(lic, {"renewals": "1"}),
    "change holder name": lambda lic: change(lic, {}, "李小四"),
    "renew": lambda lic: lic.renew(date(2028, 1, 1), 0, POLICE, LATER),
    "licence number": _set("licence_number", "闽A2026000002"),
    "holder number": _set("holder", HolderNumber(HolderKind.PERSON, "110105194912310029")),
    "serial": _set("serial", "2026" + "0" * 20),
    "issuer": _set("issuer_code", DATA_BUREAU),
    "type": _set("type_code", f"{NATIONAL_DEFINER}010"),
    "valid from": _set("validity", Validity(date(2026, 3, 2), date(2027, 2, 28))),
    "version": _set("version", 2),
    "version at": _set("version_at", LATER),
    "integer vs string": _set("fields", {**PERMIT_DATA, "renewals": "1"}),
}


@pytest.mark.parametrize("mutate", list(MUTATIONS.values()), ids=list(MUTATIONS))
def test_any_content_change_changes_the_canonical_json(mutate) -> None:
    licence = issue_permit(data={**PERMIT_DATA, "renewals": "1"})
    before = canonical_json(licence.content())
    mutate(licence)
    assert canonical_json(licence.content()) != before


def test_status_is_not_part_of_the_content() -> None:
    licence = issue_permit()
    before = canonical_json(licence.content())
    licence.apply(Action.SUSPEND, reason_for(Action.SUSPEND), POLICE, LATER)
    assert canonical_json(licence.content()) == before


def test_integers_beyond_exact_json_are_refused_and_the_largest_canonicalises() -> None:
    with pytest.raises(InvalidArgument) as caught:
        issue_permit(data={**PERMIT_DATA, "renewals": str(2**53 + 1)})
    assert caught.value.violations[0].reason == "OUT_OF_RANGE"
    licence = issue_permit(data={**PERMIT_DATA, "renewals": str(2**53 - 1)})
    canonical_json(licence.content())


# --- events ----------------------------------------------------------------------------------


def test_take_events_drains_in_order() -> None:
    licence = issue_permit()
    change(licence, {"sex": "男"})
    licence.apply(Action.SUSPEND, Reason("INVESTIGATION"), DATA_BUREAU, LATER)
    events = licence.take_events()
    assert [(e.kind, e.version, e.status_after) for e in events] == [
        (EventKind.ISSUED, 1, Status.ACTIVE),
        (EventKind.CHANGED, 2, Status.ACTIVE),
        (EventKind.SUSPENDED, 2, Status.SUSPENDED),
    ]
    assert events[-1].reason == Reason("INVESTIGATION")
    assert licence.take_events() == []
    assert licence.pending_events == []


def test_pending_events_do_not_affect_equality() -> None:
    licence = issue_permit()
    drained = copy.deepcopy(licence)
    drained.take_events()
    assert licence == drained


def test_signed_content_is_plain_json_so_the_fast_canonical_path_is_exact() -> None:
    from services.common.canonical import _plain

    licence = issue_permit(data={**PERMIT_DATA, "renewals": str(2**53 - 1)})
    change(licence, {"sex": "女"})
    assert _plain(licence.content())
    assert canonical_json(licence.content(), plain=True) == canonical_json(licence.content())
