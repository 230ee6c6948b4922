"""Request strings that no database can store: NUL characters.

PostgreSQL's text type cannot hold U+0000; a NUL reaching a query fails that statement — or,
in a group commit, everyone's. Every request is checked once, at the boundary, and refused
with INVALID_ARGUMENT naming the field, before any work.
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from services.common.errors import InvalidArgument

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def nul_field(message: Message, prefix: str = "") -> str | None:
    """The path of the first string field holding a NUL character, or None."""
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == _STRING:
            values = list(value) if field.is_repeated else [value]
            if any("\x00" in v for v in values):
                return path
        elif field.type == _MESSAGE:
            found = _in_message_field(field, value, path)
            if found:
                return found
    return None


def _in_message_field(field: FieldDescriptor, value: object, path: str) -> str | None:
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        for key, item in value.items():  # type: ignore[attr-defined]
            if "\x00" in str(key) or (isinstance(item, str) and "\x00" in item):
                return f"{path}[{key!r}]"
        return None
    items = value if field.is_repeated else [value]
    for i, item in enumerate(items):  # type: ignore[arg-type]
        found = nul_field(item, f"{path}[{i}]." if field.is_repeated else f"{path}.")
        if found:
            return found
    return None


def refuse_nul(message: Message) -> None:
    """Raise INVALID_ARGUMENT if any string field holds a NUL character."""
    if b"\x00" not in message.SerializeToString():
        return  # a NUL in any string would be a zero byte in the encoding: nothing to find
    path = nul_field(message)
    if path is not None:
        raise InvalidArgument.field(path, "contains a NUL character", "CHARACTER_SET")
