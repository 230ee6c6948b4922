"""Protobuf ↔ Python values every service's transport shares: instants, public keys.

Transport layer only (the domain never sees protobuf). Each service keeps its own converters
for its own messages; these are the ones of ``yihao.v1.common`` and google.protobuf types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from services.common.errors import InvalidArgument
from services.common.signing import PublicKey
from yihao.v1 import common_pb2 as common


def timestamp(at: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp (None stays unset)."""
    if at is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def instant_in(ts: Timestamp, field: str) -> datetime:
    """A request's timestamp as an aware UTC datetime, or INVALID_ARGUMENT naming the field."""
    try:
        # Up to 9999-12-30: every instant must still have a calendar date in China (UTC+8).
        if not 0 <= ts.seconds <= 253402214399:
            raise ValueError(ts.seconds)
        return ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(
            field, "is not a valid instant between 1970 and 9999-12-30", "OUT_OF_RANGE"
        ) from None


class PublishedKey(Protocol):
    """A public signing key as published (an issuer's, or one of the verifier's own)."""

    @property
    def key_id(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def valid_from(self) -> datetime: ...
    @property
    def valid_until(self) -> datetime | None: ...
    @property
    def compromised_at(self) -> datetime | None: ...


def key_out(key: PublishedKey) -> common.SigningKeyInfo:
    """A public signing key for an answer."""
    pem = PublicKey(key.key_id, key.algorithm, key.public_key).to_pem()
    return common.SigningKeyInfo(
        key_id=key.key_id,
        algorithm=key.algorithm,
        public_key_pem=pem,
        valid_from=timestamp(key.valid_from),
        valid_until=timestamp(key.valid_until),
        compromised_at=timestamp(key.compromised_at),
    )
