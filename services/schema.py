"""Imports every service's tables so that the one metadata (and Alembic) sees them all."""

from __future__ import annotations

from services.assistance.persistence import tables as assistance_tables
from services.common import access_log, alerts, audit_log
from services.federation import assistance_client as federation_assistance_tables
from services.federation import replay as federation_tables
from services.licence_store.persistence import tables as licence_store_tables
from services.verifier.persistence import tables as verifier_tables

__all__ = [
    "access_log",
    "alerts",
    "assistance_tables",
    "audit_log",
    "federation_assistance_tables",
    "federation_tables",
    "licence_store_tables",
    "verifier_tables",
]
