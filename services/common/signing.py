"""Digital signatures over canonical JSON.

Documents are signed as their RFC 8785 (JSON Canonicalization Scheme) serialisation, so any
party that re-serialises the same JSON value gets the same bytes and can check the signature.

Only Ed25519 is supported today. The algorithm is carried with every key (``algorithm``) and
all algorithm-specific code goes through :func:`_suite`, which is the one seam to extend for
"ECDSA-P256-SHA256" or SM2 later.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from services.common.canonical import canonical_json, sha256_hex
from services.common.errors import InvalidArgument

ED25519 = "Ed25519"
ED25519_KEY_SIZE = 32

__all__ = [
    "ED25519",
    "SUPPORTED_ALGORITHMS",
    "KeyMaterial",
    "PublicKey",
    "SigningKey",
    "canonical_json",
    "new_key_id",
    "sha256_hex",
    "signature_holds",
]


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


class KeyMaterial(Protocol):
    """Anything that carries a public key: a key record from the catalogue, a key file entry."""

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...


def signature_holds(key: KeyMaterial, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` is valid under ``key``: the check the domain is given."""
    return PublicKey(key.key_id, key.algorithm, key.public_key).verify(data, signature)


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
