"""ListLicencesByHolder stops a page before the answer's byte budget (issue 21's leftover): a
holder whose licences are each about 0.8 MB gets them over several pages, each under 3 MiB,
every licence exactly once, and only what a page holds is recorded as read. Before, the one
answer grew past gRPC's 4 MiB and the caller got RESOURCE_EXHAUSTED. Real server, both
backends."""

from __future__ import annotations

from sqlalchemy import func, select

from services.common.access_log import access_records
from services.common.limits import PAGE_BUDGET_BYTES
from services.licence_store import demo
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

COMPANY = "91350100M000100Y43"
BIG_TYPE = demo.ALIASES["market"] + "905"
FIELDS = [f"note_{i:02d}" for i in range(64)]  # the most fields a type may have
WHY = {"purpose": "登记信息核查", "case_number": "SC-2026-0905"}


def register_big_type(stack: Stack) -> None:
    """A licence type of 64 fields of 4,096 characters each (the catalogue's maximums)."""
    stack.store("data").RegisterLicenceType(
        pb.RegisterLicenceTypeRequest(
            licence_type=pb.LicenceType(
                type_code=BIG_TYPE,
                name="大型备案证明",
                holder_kind=common.HOLDER_KIND_ORGANISATION,
                fields=[
                    pb.FieldSpec(name=n, label=n, type=pb.FIELD_TYPE_STRING, max_length=4096)
                    for n in FIELDS
                ],
                issuer_codes=[demo.ALIASES["market"]],
            )
        )
    )


def issue_big(stack: Stack, n: int) -> str:
    reply = stack.store("market").IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"big-licence-{n:04d}",
            type_code=BIG_TYPE,
            licence_number=f"BIG-{n:04d}",
            holder=common.Holder(number=COMPANY, name="福州示例科技有限公司"),
            fields={name: "证" * 4096 for name in FIELDS},  # 12 KiB of UTF-8 each
        )
    )
    return str(reply.licence_number)


def records(stack: Stack) -> int:
    with stack.app.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(access_records)).scalar_one())


def test_a_holders_big_licences_come_over_pages_under_the_budget(stack: Stack) -> None:
    register_big_type(stack)
    issued = [issue_big(stack, n) for n in range(6)]  # ~4.7 MB in all
    before = records(stack)
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = stack.store("market").ListLicencesByHolder(
            pb.ListLicencesByHolderRequest(
                holder_number=COMPANY, type_codes=[BIG_TYPE], page_token=token, **WHY
            )
        )
        pages += 1
        assert page.ByteSize() <= PAGE_BUDGET_BYTES + 1024, page.ByteSize()
        assert 1 <= len(page.licences) < len(issued)
        seen += [lic.licence_number for lic in page.licences]
        if pages == 1:  # what the first page did not hold is not recorded as read
            assert records(stack) - before == len(page.licences)
        token = page.next_page_token
        if not token:
            break
        assert pages < 10, "the token does not move on"
    assert sorted(seen) == sorted(issued) and pages >= 2
