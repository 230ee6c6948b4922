"""refuse_nul: a NUL anywhere in a request's strings is refused, naming the field; requests
whose encoding has zero bytes for other reasons (empty values, zero numbers) pass."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.textcheck import refuse_nul
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb


def _record(**licence: object) -> pb.ImportRecord:
    base: dict[str, object] = {
        "idempotency_key": "key-00000001",
        "type_code": "11100000000013338W011",
        "licence_number": "N-1",
        "holder": common.Holder(number="91350100M000100Y43", name="福州示例"),
        "fields": {"address": "福州市鼓楼区五四路1号"},
    }
    return pb.ImportRecord(line=1, licence=pb.IssueLicenceRequest(**{**base, **licence}))


@pytest.mark.parametrize(
    ("licence", "path"),
    [
        ({"licence_number": "N\x00-1"}, "licence.licence_number"),
        ({"holder": common.Holder(number="9135", name="a\x00")}, "licence.holder.name"),
        ({"fields": {"address": "x\x00"}}, "licence.fields['address']"),
        ({"fields": {"k\x00": "x"}}, "licence.fields['k\\x00']"),
    ],
)
def test_a_nul_in_any_string_is_refused_with_its_path(licence: dict, path: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        refuse_nul(_record(**licence))
    assert caught.value.violations[0].field == path


def test_zero_bytes_that_are_not_characters_pass() -> None:
    record = _record(holder=common.Holder(), fields={"address": ""})
    record.line = 0
    assert b"\x00" in record.SerializeToString()  # the slow path is taken, and finds nothing
    refuse_nul(record)
    refuse_nul(_record())  # no zero byte at all: the fast path
