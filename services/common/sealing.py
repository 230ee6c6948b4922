"""Authenticated encryption for secrets at rest (AES-256-GCM with rotating master keys).

A sealed blob is self-describing::

    b"v1" | len(key_id) (1 byte) | key_id (UTF-8) | nonce (12 bytes) | ciphertext || tag (16)

The GCM associated data is the header (everything before the nonce) followed by the caller's
``aad``, so neither the key id nor the context a secret was sealed for (say, the department
it belongs to) can be swapped without :meth:`Sealer.open` failing.

Key files and the ``YIHAO_MASTER_KEYS`` environment value share one JSON shape::

    {"current": "k1", "keys": {"k1": "<base64 of 32 bytes>", "k2": "..."}}

To rotate, add a key and make it ``current``; old blobs still open and
:meth:`Sealer.needs_reseal` tells which ones to re-seal.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.common.errors import Internal, InvalidArgument

__all__ = ["KEY_SIZE", "Sealer", "blind_index"]

VERSION = b"v1"
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
MIN_BLIND_INDEX_KEY_SIZE = 16
UNSEAL_FAILED = "UNSEAL_FAILED"


def _unseal_failed(why: str) -> Internal:
    return Internal(f"sealed value could not be opened: {why}", reason=UNSEAL_FAILED)


def _bad_keys(field: str, description: str) -> InvalidArgument:
    return InvalidArgument.field(field, description, reason="INVALID_MASTER_KEYS")


def _check_key_id(key_id: str) -> None:
    if not key_id or len(key_id.encode("utf-8")) > 255:
        raise _bad_keys("keys", "key ids must be 1 to 255 UTF-8 bytes long")


class Sealer:
    """AES-256-GCM with key ids so keys rotate: sealed blob = b"v1" + key_id_len(1 byte) + key_id
    + 12-byte nonce + ciphertext||tag; associated data is bound."""

    __slots__ = ("_aeads", "current", "index_key")

    def __init__(
        self, keys: Mapping[str, bytes], current: str, index_key: bytes | None = None
    ) -> None:
        for key_id, key in keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_SIZE:
                raise _bad_keys("keys", f"key {key_id!r} must be {KEY_SIZE} bytes")
        if current not in keys:
            raise _bad_keys("current", f"current key {current!r} is not among the keys")
        self._aeads = {key_id: AESGCM(bytes(key)) for key_id, key in keys.items()}
        self.current = current
        # The blind-index key must outlive key rotation (indexes are looked up, not opened):
        # the ring's own "index_key", else one derived from its first key.
        first = next(iter(keys.values()))
        self.index_key = (
            index_key or hmac.new(bytes(first), b"yihao blind index v1", hashlib.sha256).digest()
        )

    def __repr__(self) -> str:
        return f"Sealer(current={self.current!r}, key_ids={sorted(self._aeads)!r})"

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt and authenticate ``plaintext`` under the current key, binding ``aad``."""
        header = _header(self.current)
        nonce = secrets.token_bytes(NONCE_SIZE)
        sealed = self._aeads[self.current].encrypt(nonce, plaintext, header + aad)
        return header + nonce + sealed

    def open(self, blob: bytes, aad: bytes = b"") -> bytes:
        """Decrypt ``blob`` sealed with the same ``aad``.

        Raises ``Internal`` (reason ``UNSEAL_FAILED``) if the blob is malformed, tampered with,
        sealed for another ``aad`` or under a key this sealer does not hold.
        """
        key_id, body_start = _parse_header(blob)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise _unseal_failed("unknown key id")
        nonce = blob[body_start : body_start + NONCE_SIZE]
        try:
            return aead.decrypt(nonce, blob[body_start + NONCE_SIZE :], blob[:body_start] + aad)
        except InvalidTag:
            raise _unseal_failed("authentication failed") from None

    def needs_reseal(self, blob: bytes) -> bool:
        """Whether ``blob`` was sealed under a key other than the current one."""
        key_id, _ = _parse_header(blob)
        return key_id != self.current

    @classmethod
    def from_keyfile(cls, path: Path, create: bool = False) -> Sealer:
        """Load keys from a JSON key file; with ``create``, make a missing one (mode 0600)."""
        if create and not path.exists():
            _create_keyfile(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _bad_keys("keyfile", f"cannot read {path}: {exc.strerror}") from None
        return cls._from_json(text, "keyfile")

    @classmethod
    def from_env_value(cls, value: str) -> Sealer:
        """Load keys from the key-file JSON given inline (the ``YIHAO_MASTER_KEYS`` value)."""
        return cls._from_json(value, "YIHAO_MASTER_KEYS")

    @classmethod
    def _from_json(cls, text: str, source: str) -> Sealer:
        try:
            doc = json.loads(text)
        except ValueError:
            raise _bad_keys(source, "not valid JSON") from None
        if not isinstance(doc, dict):
            raise _bad_keys(source, 'expected {"current": ..., "keys": {...}}')
        current, keys = doc.get("current"), doc.get("keys")
        if not isinstance(current, str) or not isinstance(keys, dict) or not keys:
            raise _bad_keys(source, 'expected {"current": ..., "keys": {...}}')
        index = doc.get("index_key")
        index_key = _decode_key(source, "index_key", index) if index is not None else None
        ring = {key_id: _decode_key(source, key_id, k) for key_id, k in keys.items()}
        return cls(ring, current, index_key)


def _header(key_id: str) -> bytes:
    raw = key_id.encode("utf-8")
    return VERSION + bytes([len(raw)]) + raw


def _parse_header(blob: bytes) -> tuple[str, int]:
    """Return (key id, offset of the nonce) or raise ``Internal`` for a malformed blob."""
    if len(blob) < len(VERSION) + 1 or blob[: len(VERSION)] != VERSION:
        raise _unseal_failed("not a v1 sealed value")
    id_len = blob[len(VERSION)]
    body_start = len(VERSION) + 1 + id_len
    if id_len == 0 or len(blob) < body_start + NONCE_SIZE + TAG_SIZE:
        raise _unseal_failed("truncated")
    try:
        return blob[len(VERSION) + 1 : body_start].decode("utf-8"), body_start
    except UnicodeDecodeError:
        raise _unseal_failed("malformed key id") from None


def _decode_key(source: str, key_id: object, encoded: object) -> bytes:
    if not isinstance(key_id, str) or not isinstance(encoded, str):
        raise _bad_keys(source, "keys must map key ids to base64 strings")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_keys(source, f"key {key_id!r} is not valid base64") from None


def _create_keyfile(path: Path) -> None:
    """Atomically write a new key file (mode 0600) with one random key, unless one appears."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")
    index_key = base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")
    doc = {"current": "k1", "keys": {"k1": key}, "index_key": index_key}
    data = json.dumps(doc, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(data)
        with contextlib.suppress(FileExistsError):  # another process won the race: keep theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def blind_index(key: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` (UTF-8, exactly as given) as hex, to look up encrypted values.

    Normalise ``value`` (case, spaces, full-width digits...) before calling: only identical
    strings give identical indexes. ``key`` must be at least 16 bytes and kept secret.
    """
    if len(key) < MIN_BLIND_INDEX_KEY_SIZE:
        raise InvalidArgument.field(
            "key", f"must be at least {MIN_BLIND_INDEX_KEY_SIZE} bytes", reason="WEAK_KEY"
        )
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
