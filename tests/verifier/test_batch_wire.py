"""A VerifyBatch message read from its bytes is read exactly as the protobuf library and
``batch_item`` read it, or declined (and then parsed in full): never read differently."""

from __future__ import annotations

from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from services.verifier.batch_wire import read_items
from services.verifier.messages import batch_item
from yihao.v1 import licence_store_pb2 as store_pb
from yihao.v1 import verifier_pb2 as pb

LICENCE_ID = "1.2.156.3005.2.11100000000013338W032.91350100M000100Y43.2430599.001.F"
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # NULs and surrogates left out below


def parsed(raw: bytes) -> list[object]:
    return [batch_item(r) for r in pb.VerifyBatchRequest.FromString(raw).items]


def read_as_parsed(raw: bytes) -> list[object] | None:
    """read_items(raw), checked against the full parse (None if it declined)."""
    items = read_items(raw)
    try:
        expected = parsed(raw)
    except DecodeError:
        assert items is None  # what the library cannot parse is never read
        return None
    if items is not None:
        assert items == expected
    return items


@st.composite
def requests(draw: st.DrawFn) -> pb.VerifyLicenceRequest:
    request = pb.VerifyLicenceRequest(
        presented_holder_number=draw(TEXT),
        presented_holder_name=draw(TEXT),
        purpose=draw(TEXT),
        case_number=draw(TEXT),
        client_ref=draw(TEXT),
    )
    how = draw(st.sampled_from(["id", "id", "id", "number", "none", "as_of"]))
    if how in ("id", "as_of"):
        request.licence.licence_id = draw(st.one_of(st.just(LICENCE_ID), TEXT))
    if how == "number":
        request.licence.type_and_number.type_code = draw(TEXT)
    if how == "as_of":
        request.as_of.seconds = draw(st.integers(0, 2**33))
    return request


@settings(max_examples=300, deadline=None)
@given(st.lists(requests(), max_size=6))
def test_a_message_is_read_as_the_library_and_batch_item_read_it(items):
    raw = pb.VerifyBatchRequest(items=items).SerializeToString()
    read = read_as_parsed(raw)
    common = all(
        i.licence.WhichOneof("ref") == "licence_id"
        and i.licence.licence_id
        and not i.HasField("as_of")
        for i in items
    )
    ordinary = all(
        "\x00" not in i.licence.licence_id + i.presented_holder_number + i.presented_holder_name
        and "\x00" not in i.purpose + i.case_number + i.client_ref
        for i in items
    )
    if common and ordinary and all(i.HasField("licence") for i in items):
        assert read is not None  # the common shape is read, not declined


@settings(max_examples=500, deadline=None)
@given(st.lists(requests(), min_size=1, max_size=3), st.data())
def test_bytes_changed_anywhere_are_read_as_parsed_or_declined(items, data):
    raw = bytearray(pb.VerifyBatchRequest(items=items).SerializeToString())
    for _ in range(data.draw(st.integers(1, 3))):
        if not raw:
            break
        at = data.draw(st.integers(0, len(raw) - 1))
        what = data.draw(st.sampled_from(["set", "cut", "insert"]))
        if what == "set":
            raw[at] = data.draw(st.integers(0, 255))
        elif what == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=3))
    read_as_parsed(bytes(raw))


def test_later_fields_replace_earlier_ones_and_sub_messages_merge():
    first = pb.VerifyLicenceRequest(
        licence=store_pb.LicenceRef(licence_id="first"), client_ref="a", purpose="p"
    )
    later = pb.VerifyLicenceRequest(licence=store_pb.LicenceRef(licence_id=LICENCE_ID))
    blank_ref = pb.VerifyLicenceRequest(licence=store_pb.LicenceRef(), client_ref="b")
    one_item = first.SerializeToString() + later.SerializeToString() + blank_ref.SerializeToString()
    raw = b"\x0a" + bytes([len(one_item)]) + one_item
    (item,) = read_as_parsed(raw) or []
    assert (item.licence_id, item.client_ref, item.purpose) == (LICENCE_ID, "b", "p")


def test_a_stated_empty_licence_id_or_a_nul_is_declined():
    empty_id = b"\x0a\x02\x0a\x00"  # licence { licence_id: "" } stated on the wire
    item = pb.VerifyLicenceRequest(licence=store_pb.LicenceRef(licence_id="x")).SerializeToString()
    raw = b"\x0a" + bytes([len(item) + 4]) + item + empty_id
    assert read_items(raw) is None
    nul = pb.VerifyLicenceRequest(licence=store_pb.LicenceRef(licence_id="x"), purpose="a\x00b")
    assert read_items(pb.VerifyBatchRequest(items=[nul]).SerializeToString()) is None
    assert read_items(b"") == []
