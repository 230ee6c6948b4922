"""Re-sealing after a master key rotation, in the background, without downtime.

Rotation: add a new key to the ring (``YIHAO_MASTER_KEYS`` or the key file) and make it
``current``; restart the processes one at a time (every process can open values sealed under
any key of the ring, so old and new processes work side by side). New values are sealed under
the new key at once; this job re-seals what was sealed under older keys, a batch per
transaction, so the old key can eventually be removed from the ring. The blind-index key does
not rotate (changing it means re-indexing, not re-sealing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, select, tuple_, update

from services.assistance.persistence.repository import answer_binding
from services.assistance.persistence.tables import assistance_requests, commitments
from services.common.database import Database
from services.common.holder_vault import HolderVault
from services.common.marks import get_mark, set_mark
from services.common.sealing import Sealer
from services.licence_store.persistence.tables import department_keys, licence_versions, licences
from services.verifier.persistence.tables import service_keys

log = logging.getLogger(__name__)

BATCH = 500
RESEALED_MARK = "resealed_under"


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed values, how to find its rows, and how its values are bound."""

    table: Table
    column: str
    keys: tuple[str, ...]  # primary-key columns
    reseal: Callable[[bytes, Any], bytes]  # (blob, row) -> blob sealed under the current key


def sealed_columns(vault: HolderVault, sealer: Sealer) -> list[SealedColumn]:
    """Every column holding sealed values, with the binding its values were sealed with."""

    def private_key(blob: bytes, row: Any) -> bytes:
        aad = row.key_id.encode()
        return sealer.seal(sealer.open(blob, aad), aad)

    return [
        SealedColumn(
            licences, "holder_sealed", ("serial",), lambda b, r: vault.reseal(b, "holder", r.serial)
        ),
        SealedColumn(
            assistance_requests,
            "answer_sealed",
            ("request_id",),
            lambda b, r: vault.reseal(b, "values", answer_binding(r.request_id)),
        ),
        SealedColumn(
            licence_versions,
            "sealed_fields",
            ("serial", "version"),
            lambda b, r: vault.reseal(b, "values", f"{r.serial}:{r.version}"),
        ),
        SealedColumn(
            assistance_requests,
            "holder_sealed",
            ("request_id",),
            lambda b, r: vault.reseal(b, "holder", r.request_id),
        ),
        SealedColumn(
            commitments,
            "applicant_sealed",
            ("commitment_id",),
            lambda b, r: vault.reseal(b, "holder", r.commitment_id),
        ),
        SealedColumn(department_keys, "sealed_private_key", ("key_id",), private_key),
        SealedColumn(service_keys, "sealed_private_key", ("key_id",), private_key),
    ]


def reseal_all(db: Database, vault: HolderVault, sealer: Sealer, at: datetime) -> int:
    """Re-seal every value sealed under a non-current key; how many were re-sealed.

    A finished pass leaves a mark naming the key it sealed under; while that key is still
    current, every value is sealed under it (new values always are), so the scan of every
    sealed row is skipped — it runs at each process start and the store holds millions."""
    with db.read() as conn:
        if get_mark(conn, RESEALED_MARK) == sealer.current:
            return 0
    total = 0
    for spec in sealed_columns(vault, sealer):
        total += _reseal_column(db, sealer, spec)
    with db.transaction() as conn:
        set_mark(conn, RESEALED_MARK, sealer.current, at)
    if total:
        log.info("re-sealed %d values under key %s", total, sealer.current)
    return total


def _reseal_column(db: Database, sealer: Sealer, spec: SealedColumn) -> int:
    col: Column[Any] = spec.table.c[spec.column]
    keys = [spec.table.c[k] for k in spec.keys]
    done, after = 0, None
    while True:
        with db.transaction() as conn:
            stmt = select(*keys, col).where(col.is_not(None)).order_by(*keys).limit(BATCH)
            if after is not None:
                stmt = stmt.where(tuple_(*keys) > tuple_(*after))
            rows = conn.execute(stmt).all()
            for row in rows:
                blob = bytes(getattr(row, spec.column))
                if sealer.needs_reseal(blob):
                    where = [k == getattr(row, k.name) for k in keys]
                    conn.execute(
                        update(spec.table)
                        .where(*where)
                        .values({spec.column: spec.reseal(blob, row)})
                    )
                    done += 1
        if len(rows) < BATCH:
            return done
        after = tuple(getattr(rows[-1], k) for k in spec.keys)
