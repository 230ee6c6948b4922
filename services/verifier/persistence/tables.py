"""The verifier's tables: its own signing keys, receipts and the service-item catalogue."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, String, Table, Text

from services.common.database import metadata

service_keys = Table(
    "service_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sealed_private_key", LargeBinary, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=True),
)

receipts = Table(
    "verification_receipts",
    metadata,
    Column("receipt_id", String(32), primary_key=True),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("requester_code", String(18), nullable=False),
    Column("verdict", String(16), nullable=True),
    Column("licence_id", String(120), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    # The staff member the requester said acted (migration 0016; NULL: it named none).
    Column("staff", String(64), nullable=True),
    Index("ix_verification_receipts_requester", "requester_code", "issued_at"),
)

service_items = Table(
    "service_items",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("materials", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
