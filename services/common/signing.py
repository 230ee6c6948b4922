"""Digital signatures over canonical JSON.

Documents are signed as their RFC 8785 (JSON Canonicalization Scheme) serialisation, so any
party that re-serialises the same JSON value gets the same bytes and can check the signature.

Only Ed25519 is supported today. The algorithm is carried with every key (``algorithm``) and
all algorithm-specific code goes through :func:`_suite`, which is the one seam to extend for
"ECDSA-P256-SHA256" or SM2 later.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from services.common.errors import InvalidArgument

ED25519 = "Ed25519"
ED25519_KEY_SIZE = 32

__all__ = [
    "ED25519",
    "SUPPORTED_ALGORITHMS",
    "PublicKey",
    "SigningKey",
    "canonical_json",
    "new_key_id",
    "sha256_hex",
]


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


def new_key_id(prefix: str) -> str:
    """Return a fresh key id ``<prefix>-<yyyymmdd UTC>-<8 random hex digits>``."""
    if not prefix:
        raise InvalidArgument.field("prefix", "must not be empty")
    return f"{prefix}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


# --- algorithm seam -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Suite:
    """The algorithm-specific operations, all on raw key bytes; bad keys raise ValueError."""

    generate: Callable[[], bytes]  # -> raw private key
    load_private: Callable[[bytes], tuple[Callable[[bytes], bytes], bytes]]  # -> (sign, public)
    check_public: Callable[[bytes], None]
    verify: Callable[[bytes, bytes, bytes], None]  # (raw public, data, sig); raises if bad
    public_pem: Callable[[bytes], str]


def _ed25519_generate() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def _raw_public(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _ed25519_load_private(raw: bytes) -> tuple[Callable[[bytes], bytes], bytes]:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
    return key.sign, _raw_public(key.public_key())


def _ed25519_check_public(raw: bytes) -> None:
    ed25519.Ed25519PublicKey.from_public_bytes(raw)


def _ed25519_verify(public: bytes, data: bytes, signature: bytes) -> None:
    ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, data)


def _ed25519_public_pem(raw: bytes) -> str:
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


_SUITES: dict[str, _Suite] = {
    ED25519: _Suite(
        generate=_ed25519_generate,
        load_private=_ed25519_load_private,
        check_public=_ed25519_check_public,
        verify=_ed25519_verify,
        public_pem=_ed25519_public_pem,
    ),
}

#: Algorithms keys may use today.
SUPPORTED_ALGORITHMS = frozenset(_SUITES)


def _suite(algorithm: str) -> _Suite:
    try:
        return _SUITES[algorithm]
    except KeyError:
        raise InvalidArgument.field(
            "algorithm",
            f"unsupported signature algorithm {algorithm!r}",
            reason="UNSUPPORTED_ALGORITHM",
        ) from None


def _check_key_id(key_id: str) -> None:
    if not key_id:
        raise InvalidArgument.field("key_id", "must not be empty")


# --- keys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicKey:
    """A verification key: its id, algorithm and raw public key bytes (32 for Ed25519)."""

    key_id: str
    algorithm: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_key_id(self.key_id)
        suite = _suite(self.algorithm)
        try:
            suite.check_public(self.public_key)
        except (ValueError, TypeError):
            raise InvalidArgument.field(
                "public_key", f"not a valid {self.algorithm} public key", reason="INVALID_KEY"
            ) from None

    def verify(self, data: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is valid for ``data``; never raises on bad input."""
        try:
            _SUITES[self.algorithm].verify(self.public_key, data, signature)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def to_pem(self) -> str:
        """Return the key as a PEM SubjectPublicKeyInfo string."""
        return _SUITES[self.algorithm].public_pem(self.public_key)

    @classmethod
    def from_pem(cls, key_id: str, pem: str | bytes) -> PublicKey:
        """Load a PEM SubjectPublicKeyInfo public key; raises ``InvalidArgument`` if unusable."""
        try:
            key = serialization.load_pem_public_key(
                pem.encode("ascii") if isinstance(pem, str) else pem
            )
        except (ValueError, TypeError, UnicodeError):
            raise InvalidArgument.field(
                "public_key_pem", "not a PEM public key", reason="INVALID_KEY"
            ) from None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InvalidArgument.field(
                "public_key_pem",
                f"unsupported key type {type(key).__name__}",
                reason="UNSUPPORTED_ALGORITHM",
            )
        # Other algorithms map their key types to their names here.
        return cls(key_id=key_id, algorithm=ED25519, public_key=_raw_public(key))


class SigningKey:
    """A private signing key with its id. ``repr`` never shows the key material."""

    __slots__ = ("_private", "_public", "_sign", "algorithm", "key_id")

    def __init__(self, key_id: str, algorithm: str, private: bytes) -> None:
        _check_key_id(key_id)
        suite = _suite(algorithm)
        try:
            sign, public = suite.load_private(private)
        except (ValueError, TypeError):
            raise InvalidArgument.field(
                "private_key", f"not a valid {algorithm} private key", reason="INVALID_KEY"
            ) from None
        self.key_id = key_id
        self.algorithm = algorithm
        self._private = bytes(private)
        self._sign = sign
        self._public = PublicKey(key_id, algorithm, public)

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r}, algorithm={self.algorithm!r})"

    @classmethod
    def generate(cls, key_id: str, algorithm: str = ED25519) -> SigningKey:
        """Generate a new random key."""
        return cls(key_id, algorithm, _suite(algorithm).generate())

    @classmethod
    def from_private_bytes(cls, key_id: str, raw: bytes, algorithm: str = ED25519) -> SigningKey:
        """Rebuild a key from :meth:`private_bytes` output."""
        return cls(key_id, algorithm, raw)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the signature (64 bytes for Ed25519)."""
        return self._sign(data)

    def public(self) -> PublicKey:
        """Return the matching public key, with the same key id."""
        return self._public

    def private_bytes(self) -> bytes:
        """Return the raw private key (the 32-byte seed for Ed25519); seal it before storing."""
        return self._private
