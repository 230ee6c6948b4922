"""Migration 0006 encrypts holder numbers already stored in clear, without losing any."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from services.assistance.persistence import repository as assistance_repo
from services.common.database import Database
from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, HolderNumber
from services.common.migrate import upgrade
from services.common.sealing import Sealer
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence.codec import LicenceCodec
from testsupport.atrest import clear_hits

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


# --- 0012: assistance answers stored before it are sealed -------------------------------------

SPOUSE = "配偶旧答案甲"
ANSWER = {"result": "FOUND", "spouse_name": SPOUSE}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _old_answer(db: Database, vault: HolderVault) -> None:
    holder = vault.seal_holder(HolderNumber(HolderKind.PERSON, "11010519491231002X"), "", "Q1")
    with db.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO assistance_requests (request_id, item_code, requester_code, "
                "provider_code, holder_kind, holder_index, holder_sealed, purpose, legal_basis, "
                "case_number, requested_fields, status, submitted_at, deadline, decided_at, "
                "answer, refusal_ground, refusal_explanation, urgings, version, idempotency_key, "
                "seq) VALUES ('Q1', 'XZXZ-MZ-001', '11350100131860916B', '113501009083016632', "
                "'person', :hi, :hs, '户籍业务', '条例', 'C-1', :rf, 'answered', :at, :at, :at, "
                ":answer, '', '', :urgings, 2, 'key-0001', 1)"
            ),
            {
                "hi": holder.index,
                "hs": holder.sealed,
                "rf": json.dumps(["spouse_name"]),
                "at": AT,
                "answer": json.dumps(
                    {"result": "FOUND", "spouse_name": SPOUSE}, ensure_ascii=False
                ),
                "urgings": "[]",
            },
        )


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_stored_assistance_answers_are_sealed_and_still_read(
    backend: str, tmp_path, request: pytest.FixtureRequest
):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database("old_answers")
    db = Database(url)
    vault = HolderVault(Sealer({"k1": b"k" * 32}, "k1"))
    upgrade(db, "0011", vault=vault)
    _old_answer(db, vault)
    assert clear_hits(url, [SPOUSE]) == ["assistance_requests.answer: 配偶旧答案甲"]
    with pytest.raises(RuntimeError, match="master keys"):
        upgrade(db)  # without the keys it refuses rather than leave the answers in clear
    upgrade(db, vault=vault)
    assert not clear_hits(url, [SPOUSE])  # every table, every column
    with db.read() as conn:
        stored = assistance_repo.get_request(conn, "Q1", vault)
    assert stored is not None
    assert stored.answer == ANSWER
    db.dispose()
