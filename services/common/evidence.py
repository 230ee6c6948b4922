"""What the tamper-evident log records, as plain values the domain can build.

The domain says *what* counts as evidence — a receipt, a decision — as an :class:`Entry`;
:mod:`services.common.audit_log` (SQL, signed tree heads) stores and proves it. Kept apart so
the domain imports neither SQLAlchemy nor cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Entry"]


@dataclass(frozen=True)
class Entry:
    """One record to log: its kind, a reference to it, and its payload's hash."""

    kind: str
    ref: str
    payload_sha256: str
