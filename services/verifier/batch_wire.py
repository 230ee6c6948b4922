"""A VerifyBatch request message read straight from its wire bytes, in the shape most take.

Reading a chunk of 1,000 items through the protobuf library makes a message object per item
and reads each field through it (~2.3 µs an item on the handler thread). Almost every item
a department sends has one shape: the licence named by ``licence_id``, some of the presented
holder number and name, purpose, case number and ``client_ref``, nothing else.
:func:`read_items` reads messages whose every item has that shape straight into
:class:`~services.verifier.results.Asked` values — exactly what
:func:`~services.verifier.messages.batch_item` makes of the parsed item — and declines
(``None``) anything else: another field or wire type, a licence named by type and number,
an ``as_of``, a NUL character, bytes that are not UTF-8, a malformed length. The caller then
parses the message with the protobuf library as before, so every other message is read, and
every error is reported, exactly as it was. Compiled with the hot path
(:mod:`services.common.hot_path`).

Plain Python: no grpc, no SQL.
"""

from __future__ import annotations

from typing import Final

from services.verifier.results import Asked, new_asked

# Field keys (field number << 3 | wire type 2, length-delimited), each one byte.
_ITEMS: Final = 0x0A  # VerifyBatchRequest.items = 1
_LICENCE: Final = 0x0A  # VerifyLicenceRequest.licence = 1
_HOLDER_NUMBER: Final = 0x12  # presented_holder_number = 2
_HOLDER_NAME: Final = 0x1A  # presented_holder_name = 3
_PURPOSE: Final = 0x2A  # purpose = 5
_CASE_NUMBER: Final = 0x32  # case_number = 6
_CLIENT_REF: Final = 0x3A  # client_ref = 7
_LICENCE_ID: Final = 0x0A  # LicenceRef.licence_id = 1 (a member of the oneof ``ref``)
_FIELDS: Final = frozenset(
    (_LICENCE, _HOLDER_NUMBER, _HOLDER_NAME, _PURPOSE, _CASE_NUMBER, _CLIENT_REF)
)


def read_items(raw: bytes) -> list[Asked] | None:
    """The items of the VerifyBatchRequest encoded in ``raw``, each as ``batch_item`` reads
    it, when every item has the common shape; ``None`` otherwise (parse it in full)."""
    items: list[Asked] = []
    end = len(raw)
    i = 0
    while i < end:
        if raw[i] != _ITEMS:
            return None
        size, i = _length(raw, i + 1, end)
        if size < 0:
            return None
        asked = _item(raw, i, i + size)
        if asked is None:
            return None
        items.append(asked)
        i += size
    return items


def _length(raw: bytes, i: int, end: int) -> tuple[int, int]:
    """The length (a varint of at most 4 bytes) at ``i`` and where its field's bytes start;
    (-1, i) when it is malformed or its bytes would run past ``end``."""
    value = 0
    shift = 0
    while i < end and shift < 28:
        byte = raw[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (value, i) if i + value <= end else (-1, i)
        shift += 7
    return -1, i


def _item(raw: bytes, i: int, end: int) -> Asked | None:
    """One VerifyLicenceRequest of the common shape, or None."""
    licence_id = holder_number = holder_name = purpose = case_number = client_ref = ""
    while i < end:
        key = raw[i]
        if key not in _FIELDS:
            return None
        size, i = _length(raw, i + 1, end)
        if size < 0:
            return None
        if key == _LICENCE:
            ref = _licence_id(raw, i, i + size)
            if ref is None:
                return None
            if ref:  # a repeated sub-message merges: a later licence_id replaces this one
                licence_id = ref
        else:
            text = _text(raw, i, i + size)
            if text is None:
                return None
            if key == _HOLDER_NUMBER:
                holder_number = text
            elif key == _HOLDER_NAME:
                holder_name = text
            elif key == _PURPOSE:
                purpose = text
            elif key == _CASE_NUMBER:
                case_number = text
            else:
                client_ref = text
        i += size
    if not licence_id:
        return None
    return new_asked(licence_id, holder_number, holder_name, purpose, case_number, client_ref)


def _licence_id(raw: bytes, i: int, end: int) -> str | None:
    """A LicenceRef holding only a ``licence_id`` that is not empty (the last one given), or
    nothing at all (""); None otherwise."""
    found = ""
    while i < end:
        if raw[i] != _LICENCE_ID:
            return None
        size, i = _length(raw, i + 1, end)
        if size <= 0:  # malformed, or an empty licence_id stated (it would replace one before)
            return None
        text = _text(raw, i, i + size)
        if text is None:
            return None
        found = text
        i += size
    return found


def _text(raw: bytes, i: int, end: int) -> str | None:
    """The string field's bytes ``raw[i:end]`` as text; None if they are not UTF-8 or hold a
    NUL character (``batch_item`` refuses those on its own)."""
    try:
        text = raw[i:end].decode()
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text
