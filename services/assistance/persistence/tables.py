"""The assistance service's tables: items, requests, commitments."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    false,
)

from services.common.database import metadata

assistance_items = Table(
    "assistance_items",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("provider_code", String(18), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

assistance_requests = Table(
    "assistance_requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("item_code", String(32), nullable=False),
    Column("requester_code", String(18), nullable=False),
    Column("provider_code", String(18), nullable=False),
    Column("holder_kind", String(16), nullable=False),
    Column("holder_index", String(64), nullable=False),  # blind index
    Column("holder_sealed", LargeBinary, nullable=False),  # AES-GCM
    Column("purpose", String(200), nullable=False),
    Column("legal_basis", String(500), nullable=False),
    Column("case_number", String(64), nullable=False),
    Column("requested_fields", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("answer", JSON, nullable=False),  # {}: answers are sealed (0012)
    Column("answer_sealed", LargeBinary, nullable=True),  # AES-GCM: the whole answer
    Column("refusal_ground", String(32), nullable=False),
    Column("refusal_explanation", Text, nullable=False),
    Column("urgings", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("idempotency_key", String(128), nullable=True),
    Column("seq", BigInteger, nullable=False),  # change sequence, for watchers
    Column("deadline_provisional", Boolean, nullable=False, server_default=false()),
    Column("time_limit_working_days", Integer, nullable=True),
    # The decision's signed statement (0017; null: undecided, or decided before signing).
    Column("decision_body", LargeBinary, nullable=True),
    Column("decision_signature", LargeBinary, nullable=True),
    Column("decision_key_id", String(64), nullable=True),
    # The requester's staff member who submitted it, as it said (0018; NULL: none named).
    Column("requester_staff", String(64), nullable=True),
    # The requester's region, when a peer region's department (0022; NULL: this region's).
    Column("requester_region", String(6), nullable=True),
    Index("ix_assistance_requests_requester", "requester_code", "submitted_at"),
    Index("ix_assistance_requests_provider", "provider_code", "status", "deadline"),
    Index("ix_assistance_requests_key", "requester_code", "idempotency_key", unique=True),
    Index("ix_assistance_requests_seq", "seq"),
)

commitments = Table(
    "commitments",
    metadata,
    Column("commitment_id", String(32), primary_key=True),
    Column("department_code", String(18), nullable=False),
    Column("applicant_kind", String(16), nullable=False),
    Column("applicant_index", String(64), nullable=False),  # blind index
    Column("applicant_sealed", LargeBinary, nullable=False),  # AES-GCM
    Column("applicant_name", String(200), nullable=False),
    Column("licence_type_code", String(21), nullable=False),
    Column("case_number", String(64), nullable=False),
    Column("check_by", Date, nullable=False),
    Column("status", String(16), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("checked_at", DateTime(timezone=True), nullable=True),
    Column("outcome", Text, nullable=False),
    Index("ix_commitments_status", "status", "check_by"),
)
