"""Master key rotation: re-seal in the background, then the old key can leave the ring."""

from __future__ import annotations

import base64
import json
import os

import pytest
from sqlalchemy import delete

from services.app import build_app
from services.common.holder_vault import HolderVault
from services.common.identifiers import parse_holder_number
from services.common.identity import Caller
from services.common.marks import maintenance_marks
from services.common.sealing import Sealer
from services.licence_store import demo
from services.licence_store.domain.reading import LicenceRef
from services.licence_store.lifecycle import IssueCommand
from services.reseal import reseal_all
from services.verifier.domain.verdict import Verdict
from services.verifier.results import Presented
from testsupport.stack import Stack

PERSON = "11010519491231002X"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def test_rotation_reseals_everything_and_the_old_key_can_go(stack: Stack, clock):
    app = stack.app
    issued = app.licence_store.lifecycle.issue(
        Caller(demo.ALIASES["civil"]),
        IssueCommand(
            idempotency_key="reseal-0001",
            type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            licence_number="J-1",
            holder_number=PERSON,
            holder_name="张三",
            fields={
                "spouse_name": "李四",
                "spouse_id_number": "360426199101010071",
                "registered_on": "2026-05-20",
                "registration_office": "民政局",
                "certificate_serial": "J-1",
            },
        ),
    )
    ring = json.loads(app.settings.master_key_file.read_text())
    new_key = base64.b64encode(os.urandom(32)).decode()
    rotated = {
        "current": "k2",
        "keys": {**ring["keys"], "k2": new_key},
        "index_key": ring["index_key"],
    }
    sealer = Sealer.from_env_value(json.dumps(rotated))
    now = clock.now()
    assert reseal_all(app.db, HolderVault(sealer), sealer, now) >= 3  # holder, fields, keys
    assert reseal_all(app.db, HolderVault(sealer), sealer, now) == 0  # marked done under k2
    with app.db.transaction() as conn:
        conn.execute(delete(maintenance_marks))
    assert reseal_all(app.db, HolderVault(sealer), sealer, now) == 0  # a full scan: none left

    only_new = json.dumps(
        {"current": "k2", "keys": {"k2": new_key}, "index_key": ring["index_key"]}
    )
    app2 = build_app(app.settings.with_overrides(master_keys_json=only_new), clock=clock)
    try:
        ref = LicenceRef(licence_id=issued.stored.signed.licence_id)
        found = app2.read.reader.find(ref)
        assert found is not None and found.licence.holder.value == PERSON
        assert found.licence.fields["spouse_id_number"] == "360426199101010071"
        result = app2.verifier.check(found, Presented(parse_holder_number(PERSON)), {})
        assert result.decision.verdict is Verdict.VALID
    finally:
        app2.close()
