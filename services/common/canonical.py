"""Canonical JSON (RFC 8785) and SHA-256: the bytes that are signed, hashed and logged.

Plain Python (and the pure-Python ``rfc8785`` package): the domain builds canonical payloads
and their digests here without loading cryptography; :mod:`services.common.signing` signs
them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

import rfc8785

from services.common.errors import InvalidArgument

__all__ = ["canonical_json", "sha256_hex"]


def canonical_json(obj: object, *, plain: bool = False) -> bytes:
    """Serialise ``obj`` as RFC 8785 canonical JSON (UTF-8 bytes).

    Raises ``InvalidArgument`` (reason ``NOT_CANONICAL_JSON``) for values JSON cannot carry
    exactly: NaN/infinity, integers beyond +/-2**53, non-string keys, unsupported types.

    ``plain=True`` is for values this program built itself from validated data and knows to
    be plain (ASCII keys, exact integers, no floats, valid text): it skips the walk that
    proves it, which on a large receipt costs more than the serialisation.
    """
    if plain or _plain(obj):
        return _PLAIN_JSON.encode(obj).encode()
    try:
        return rfc8785.dumps(cast("Any", obj))
    except rfc8785.CanonicalizationError as exc:
        raise InvalidArgument(
            f"value cannot be canonicalised as JSON: {exc}", reason="NOT_CANONICAL_JSON"
        ) from exc


# Built once: json.dumps with options builds a new encoder per call (a third of the cost).
_PLAIN_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_MAX_EXACT = 2**53 - 1


def _encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode text (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain(obj: object, depth: int = 0) -> bool:
    """Whether ``obj`` lies where json.dumps already produces RFC 8785 output.

    That is: ASCII keys (so code-point order equals RFC 8785's UTF-16 order), strings without
    surrogates, exact integers, booleans, null, and no floats (whose formatting differs).
    Everything else goes through the rfc8785 package; a property test checks the two agree.
    """
    if obj is None or isinstance(obj, bool):
        return True
    if isinstance(obj, int):
        return -_MAX_EXACT <= obj <= _MAX_EXACT
    if isinstance(obj, str):
        return obj.isascii() or _encodable(obj)
    if depth > 32:
        return False
    if isinstance(obj, dict):
        return all(
            isinstance(k, str) and k.isascii() and _plain(v, depth + 1) for k, v in obj.items()
        )
    if isinstance(obj, list | tuple):
        return all(_plain(v, depth + 1) for v in obj)
    return False


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()
