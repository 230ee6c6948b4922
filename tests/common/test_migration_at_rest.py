"""Migration 0006 encrypts holder numbers already stored in clear, without losing any."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from services.common.database import Database
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, HolderNumber
from services.common.migrate import upgrade
from services.common.sealing import Sealer
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence.codec import LicenceCodec

AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
TYPE = "11100000000013338W032"


def _old_rows(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO licence_types VALUES "
                "(:c, '结婚证', 'person', :s, 0, '11100000000013338W', :at)"
            ),
            {
                "c": TYPE,
                "s": json.dumps(
                    [
                        {
                            "name": "spouse_id_number",
                            "label": "配偶",
                            "type": "string",
                            "required": True,
                            "sensitive": True,
                            "max_length": 18,
                        },
                        {
                            "name": "registered_on",
                            "label": "日期",
                            "type": "date",
                            "required": True,
                            "sensitive": False,
                            "max_length": 512,
                        },
                    ]
                ),
                "at": AT,
            },
        )
        conn.execute(
            text(
                "INSERT INTO licences (serial, type_code, licence_number, issuer_code, "
                "holder_kind, holder_number, current_version, status, status_at, issued_at) "
                "VALUES ('S1', :t, 'J-1', '113501009083016632', 'person', "
                "'11010519491231002X', 1, 'active', :at, :at)"
            ),
            {"t": TYPE, "at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO licence_versions (serial, version, licence_id, holder_name, "
                "fields, valid_from, valid_until, version_at, key_id, algorithm, signature, "
                "content_sha256) "
                "VALUES ('S1', 1, 'L1', '张三', :f, :d, NULL, :at, 'k', 'Ed25519', :sig, 'h')"
            ),
            {
                "f": json.dumps(
                    {"spouse_id_number": "360426199101010071", "registered_on": "2026-05-20"}
                ),
                "d": date(2026, 1, 1),
                "at": AT,
                "sig": b"x",
            },
        )
        conn.execute(
            text(
                "INSERT INTO access_records (holder_number, department_code, channel, purpose, "
                "case_number, what, at) VALUES ('11010519491231002X', 'D', 'verification', '', '', "
                "'x', :at)"
            ),
            {"at": AT},
        )


def test_existing_clear_numbers_are_encrypted_and_still_found(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0005")
    _old_rows(db)
    vault = HolderVault(Sealer({"k1": b"k" * 32}, "k1"))
    with pytest.raises(RuntimeError, match="master keys"):
        upgrade(db)  # without the keys it refuses rather than dropping the numbers
    upgrade(db, vault=vault)
    codec = LicenceCodec(vault, lambda _t: frozenset({"spouse_id_number"}))
    holder = HolderNumber(HolderKind.PERSON, "11010519491231002X")
    with db.read() as conn:
        found = repo.list_by_holder(conn, holder, (), (), "", 10, codec)
        raw = conn.execute(text("SELECT fields FROM licence_versions")).scalar()
        key = conn.execute(text("SELECT holder_key FROM access_records")).scalar()
    assert [s.licence.serial for s in found] == ["S1"]
    assert found[0].licence.holder == holder
    assert found[0].licence.fields["spouse_id_number"] == "360426199101010071"
    assert "360426199101010071" not in str(raw)
    assert key == vault.index(holder)
    db.dispose()
