"""The licence store's tables. Only the licence store writes them.

Licences are stored as a current-state row (``licences``) plus append-only ``licence_versions``
(the signed content of each version) and ``licence_events`` (every change, with a cursor that
grows in commit order so followers never miss one). ``licence_statements`` holds each
licence's chain of issuer-signed status statements (see ``domain/statements.py``): what
verdicts are decided from.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    false,
)

from services.common.database import metadata

# BigInteger autoincrement that SQLite also turns into a rowid alias.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

departments = Table(
    "departments",
    metadata,
    Column("credit_code", String(18), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("region", String(6), nullable=False),
    Column("roles", String(200), nullable=False, default=""),
    Column("registered_at", DateTime(timezone=True), nullable=False),
)

department_keys = Table(
    "department_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("department_code", String(18), ForeignKey("departments.credit_code"), nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sealed_private_key", LargeBinary, nullable=False),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_until", DateTime(timezone=True), nullable=True),
    Column("compromised_at", DateTime(timezone=True), nullable=True),
    Index("ix_department_keys_department", "department_code", "valid_from"),
)

revoked_certificates = Table(
    "revoked_certificates",
    metadata,
    Column("serial_number", String(64), primary_key=True),  # upper-case hex
    Column("department_code", String(18), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)

licence_types = Table(
    "licence_types",
    metadata,
    Column("type_code", String(21), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("holder_kind", String(16), nullable=False),
    Column("schema", JSON, nullable=False),
    Column("default_validity_days", Integer, nullable=False),
    Column("definer_code", String(18), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("consent_required", Boolean, nullable=False, server_default=false()),
)

licence_type_issuers = Table(
    "licence_type_issuers",
    metadata,
    Column("type_code", String(21), ForeignKey("licence_types.type_code"), primary_key=True),
    Column("issuer_code", String(18), primary_key=True),
)

read_grants = Table(
    "read_grants",
    metadata,
    Column("department_code", String(18), primary_key=True),  # "*": every department
    Column("type_code", String(21), ForeignKey("licence_types.type_code"), primary_key=True),
    Column("purposes", JSON, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("unmasked_fields", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

licences = Table(
    "licences",
    metadata,
    Column("serial", String(32), primary_key=True),
    Column("type_code", String(21), ForeignKey("licence_types.type_code"), nullable=False),
    Column("licence_number", String(64), nullable=False),
    Column("issuer_code", String(18), nullable=False),
    Column("holder_kind", String(16), nullable=False),
    Column("holder_index", String(64), nullable=False),  # blind index (HMAC), never the number
    Column("holder_sealed", LargeBinary, nullable=False),  # AES-GCM: number + content salt
    Column("current_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason_code", String(32), nullable=True),
    Column("status_reason_text", String(500), nullable=True),
    Column("status_at", DateTime(timezone=True), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("type_code", "licence_number"),
    Index("ix_licences_holder", "holder_index", "type_code"),
)

licence_versions = Table(
    "licence_versions",
    metadata,
    Column("serial", String(32), ForeignKey("licences.serial"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("licence_id", String(120), nullable=False, unique=True),
    Column("holder_name", String(200), nullable=False),
    Column("fields", JSON, nullable=False),  # the fields the type does not mark sensitive
    Column("sealed_fields", LargeBinary, nullable=True),  # AES-GCM: the sensitive ones
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date, nullable=True),
    Column("version_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("content_sha256", String(64), nullable=False),
)

licence_events = Table(
    "licence_events",
    metadata,
    Column("cursor", BigIntPK, primary_key=True, autoincrement=True),
    Column("serial", String(32), ForeignKey("licences.serial"), nullable=False),
    Column("type_code", String(21), nullable=False),
    Column("issuer_code", String(18), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("actor_code", String(18), nullable=False),
    Column("status_after", String(16), nullable=False),
    Column("reason_code", String(32), nullable=True),
    Column("reason_text", String(500), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # The staff member the acting department said acted (migration 0016; NULL: none named).
    Column("staff", String(64), nullable=True),
    Index("ix_licence_events_serial", "serial", "cursor"),
)

licence_statements = Table(
    "licence_statements",
    metadata,
    Column("serial", String(32), ForeignKey("licences.serial"), primary_key=True),
    Column("sequence", Integer, primary_key=True),
    Column("body", LargeBinary, nullable=False),  # the signed RFC 8785 bytes, exactly
    Column("signature", LargeBinary, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("caller_code", String(18), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("method", String(64), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("serial", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ALL = (
    departments,
    revoked_certificates,
    department_keys,
    licence_types,
    licence_type_issuers,
    licences,
    licence_versions,
    licence_events,
    licence_statements,
    idempotency_keys,
)

# Consent (授权用证): a holder's grants, signed by the portal, and every use of them.
consent_grants = Table(
    "consent_grants",
    metadata,
    Column("grant_id", String(32), primary_key=True),
    Column("holder_key", String(64), nullable=False),  # blind index, not the number
    Column("holder_masked", String(32), nullable=False),
    Column("holder_kind", String(16), nullable=False),
    Column("department_code", String(18), nullable=False),
    Column("type_codes", JSON, nullable=False),
    Column("licence_id", String(120), nullable=False),
    Column("licence_serial", String(32), nullable=False),
    Column("item_code", String(64), nullable=False),
    Column("case_number", String(64), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("portal_code", String(18), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    # An organisation's representative who granted / revoked it, masked (migration 0024).
    Column("granted_by", String(32), nullable=False, server_default=""),
    Column("revoked_by", String(32), nullable=False, server_default=""),
    Index("ix_consent_grants_holder", "holder_key", "grant_id"),
    Index("ix_consent_grants_department", "department_code", "grant_id"),
)

consent_uses = Table(
    "consent_uses",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("grant_id", String(32), nullable=False),
    Column("department_code", String(18), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("what", String(500), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_consent_uses_grant", "grant_id", "id"),
)
