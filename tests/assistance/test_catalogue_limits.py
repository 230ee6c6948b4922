"""Catalogue texts have documented maximums, and list answers always fit the message limit.

Found by an outside probe: five assistance items registered with a 1 MB text field made the
unfiltered ListItems fail for every department (its answer was over the 4 MiB message limit).
Now every text of a registration is bounded (refused with INVALID_ARGUMENT naming the field
and the limit), and a list answer stops before 3 MiB of entries and continues on a next page.
"""

from __future__ import annotations

import grpc
import pytest

from services.assistance.domain.items import (
    MAX_ATTESTATION,
    MAX_ITEM_FIELDS,
    MAX_NAME,
    MAX_PURPOSE,
    MAX_PURPOSES,
    MAX_SHORT_TEXT,
)
from services.common.limits import MAX_MESSAGE_BYTES
from services.licence_store import demo
from services.licence_store.domain.catalogue import MAX_NAME_LENGTH
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

WIDE = "\U00020000"  # four bytes in UTF-8: the longest a character can be
MEGABYTE = "长" * (1024 * 1024 // 3)


def attestation_item(code: str, **overrides: object) -> apb.AssistanceItem:
    values: dict[str, object] = {
        "code": code,
        "name": "有无犯罪记录查询",
        "provider_code": demo.ALIASES["police"],
        "attestation": "有无犯罪记录证明",
        "fields": ["has_record"],
        "requester_codes": [demo.ALIASES["hall"]],
        "procedure": apb.PROCEDURE_MANUAL,
        "method": "线上申请",
        "responsible_office": "治安管理支队",
        "time_limit_working_days": 5,
        "refusal_grounds": ["NOT_HELD"],
    }
    values.update(overrides)
    return apb.AssistanceItem(**values)  # type: ignore[arg-type]


def register(stack: Stack, item: apb.AssistanceItem) -> apb.AssistanceItem:
    return stack.assistance("data").RegisterItem(apb.RegisterItemRequest(item=item))


def refusal(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value


def test_oversized_items_are_refused_and_the_catalogue_stays_up(stack: Stack):
    for i in range(5):
        error = refusal(
            lambda i=i: register(stack, attestation_item(f"BIG-{i:03d}", method=MEGABYTE))
        )
        assert "item.method" in (error.details() or "")
        assert f"at most {MAX_SHORT_TEXT}" in (error.details() or "")
    listed = stack.assistance("hall").ListItems(apb.ListItemsRequest())
    assert {i.code for i in listed.items} >= {"XZXZ-MZ-001", "XZXZ-GA-001"}


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("name", "名" * (MAX_NAME + 1), MAX_NAME),
        ("method", "法" * (MAX_SHORT_TEXT + 1), MAX_SHORT_TEXT),
        ("responsible_office", "处" * (MAX_SHORT_TEXT + 1), MAX_SHORT_TEXT),
        ("attestation", "证" * (MAX_ATTESTATION + 1), MAX_ATTESTATION),
        ("allowed_purposes", ["审查", "目" * (MAX_PURPOSE + 1)], MAX_PURPOSE),
        ("allowed_purposes", ["目的"] * (MAX_PURPOSES + 1), MAX_PURPOSES),
        ("fields", [f"f{i}" for i in range(MAX_ITEM_FIELDS + 1)], MAX_ITEM_FIELDS),
    ],
)
def test_each_item_text_has_a_maximum(stack: Stack, field: str, value: object, limit: int):
    error = refusal(lambda: register(stack, attestation_item("LIMIT-001", **{field: value})))
    details = error.details() or ""
    assert f"item.{field}" in details and f"at most {limit}" in details, details


def test_licence_type_and_department_texts_have_maximums(stack: Stack):
    admin = stack.store("data")
    lt = pb.LicenceType(
        type_code=demo.ALIASES["market"] + "902",
        name="名" * (MAX_NAME_LENGTH + 1),
        holder_kind=common.HOLDER_KIND_ORGANISATION,
        fields=[pb.FieldSpec(name="note", label="备注", type=pb.FIELD_TYPE_STRING)],
        issuer_codes=[demo.ALIASES["market"]],
    )
    error = refusal(
        lambda: admin.RegisterLicenceType(pb.RegisterLicenceTypeRequest(licence_type=lt))
    )
    assert "licence_type.name" in (error.details() or "")
    lt.name = "备注类证照"
    lt.fields[0].label = "标" * (MAX_NAME_LENGTH + 1)
    error = refusal(
        lambda: admin.RegisterLicenceType(pb.RegisterLicenceTypeRequest(licence_type=lt))
    )
    assert "licence_type.fields[0].label" in (error.details() or "")
    error = refusal(
        lambda: admin.RegisterDepartment(
            pb.RegisterDepartmentRequest(
                credit_code=demo.ALIASES["market"],
                name="局" * (MAX_NAME_LENGTH + 1),
                region="350100",
                roles=[common.ROLE_OPERATOR],
            )
        )
    )
    assert "name" in (error.details() or "") and f"at most {MAX_NAME_LENGTH}" in (
        error.details() or ""
    )


def test_the_largest_entries_are_listed_in_pages_that_fit(stack: Stack):
    largest = {
        "name": WIDE * MAX_NAME,
        "attestation": WIDE * MAX_ATTESTATION,
        "method": WIDE * MAX_SHORT_TEXT,
        "responsible_office": WIDE * MAX_SHORT_TEXT,
        "allowed_purposes": [f"{i:02d}" + WIDE * (MAX_PURPOSE - 2) for i in range(MAX_PURPOSES)],
        "fields": [f"f{i:03d}_" + "x" * 59 for i in range(MAX_ITEM_FIELDS)],
    }
    largest["unmasked_fields"] = largest["fields"]
    count = 120  # ~31 KB each: over one page's 3 MiB
    codes = {f"WIDE-{i:03d}" for i in range(count)}
    for code in sorted(codes):
        register(stack, attestation_item(code, **largest))
    seen: list[str] = []
    pages = 0
    token = ""
    while True:
        page = stack.assistance("hall").ListItems(apb.ListItemsRequest(page_token=token))
        assert page.ByteSize() <= MAX_MESSAGE_BYTES
        pages += 1
        seen += [i.code for i in page.items]
        token = page.next_page_token
        if not token:
            break
    assert pages >= 2
    assert codes <= set(seen) and len(seen) == len(set(seen))
    small = stack.assistance("hall").ListItems(apb.ListItemsRequest(page_size=7))
    assert len(small.items) == 7 and small.next_page_token
