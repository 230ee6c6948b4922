"""The tamper-evident log: proofs anyone can check, and `yihao audit verify` catching edits,
deletions and reordering made directly in the database."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlalchemy import delete, select, update

from clients.cli import main
from services.audit import verify
from services.common import merkle
from services.common.audit_log import audit_leaves, head_bytes, leaf_hashes, tree_heads
from services.common.signing import PublicKey
from services.licence_store import demo
from services.licence_store.persistence.tables import licence_events, licence_versions, licences
from services.verifier.persistence.tables import receipts
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"


def history(stack: Stack, clock) -> dict[str, str]:
    """Issue two licences, change and revoke one, verify, decide an assistance request."""
    store = stack.store("market")
    ids = []
    for n in ("A-1", "A-2"):
        ids.append(
            store.IssueLicence(
                pb.IssueLicenceRequest(
                    idempotency_key=f"audit-{n}",
                    type_code=demo.BUSINESS_LICENCE.type_code,
                    licence_number=n,
                    holder=common.Holder(number=COMPANY, name="示例"),
                    fields=BUSINESS_FIELDS,
                )
            ).licence_id
        )
        clock.advance(timedelta(seconds=1))
    ref = pb.LicenceRef(licence_id=ids[0])
    store.ChangeLicence(pb.ChangeLicenceRequest(licence=ref, fields={"address": "新址"}))
    clock.advance(timedelta(seconds=1))
    store.RevokeLicence(pb.StatusChangeRequest(licence=ref, reason_code="FRAUD"))
    receipt = stack.verifier("hall").VerifyLicence(vpb.VerifyLicenceRequest(licence=ref)).receipt_id
    request = stack.assistance("housing").SubmitRequest(
        apb.SubmitRequestRequest(
            case_number="TEST-2026-0001",
            idempotency_key="audit-assist-1",
            item_code="XZXZ-SC-001",
            holder_number=COMPANY,
            purpose="住房保障审核",
        )
    )
    return {"first": ids[0], "second": ids[1], "receipt": receipt, "request": request.request_id}


def report(stack: Stack):
    with stack.app.db.read() as conn:
        return verify(conn, stack.app.verifier.log_keys, stack.app.read.codec)


def test_clean_history_verifies_and_proofs_check_out(stack: Stack, clock):
    refs = history(stack, clock)
    verifier = stack.verifier("supervision")
    first = verifier.GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    # 2 issued, changed, revoked, a receipt and its access record, an assistance decision and
    # its access record
    assert first.tree_size == 8
    keys = verifier.GetIssuerKeys(vpb.GetIssuerKeysRequest(issuer_codes=[demo.ALIASES["data"]]))
    log_key = next(k for k in keys.receipt_keys if k.key_id == first.key_id)
    public = PublicKey.from_pem(log_key.key_id, log_key.public_key_pem)
    at = first.at.ToDatetime(tzinfo=UTC)
    assert public.verify(head_bytes(first.tree_size, first.root_hash, at), first.signature)
    for ref in (refs["receipt"], refs["request"]):
        proof = verifier.GetInclusionProof(vpb.GetInclusionProofRequest(ref=ref))
        assert merkle.verify_inclusion(
            proof.leaf_hash, proof.leaf_index, first.tree_size, list(proof.path), first.root_hash
        )
    stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=refs["second"]))
    )
    second = verifier.GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    assert second.tree_size == first.tree_size + 2  # a receipt and its access record
    consistency = verifier.GetConsistencyProof(
        vpb.GetConsistencyProofRequest(first_size=first.tree_size, second_size=second.tree_size)
    )
    assert merkle.verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, list(consistency.path)
    )
    outcome = report(stack)
    assert outcome.ok, [str(p) for p in outcome.problems]
    assert (outcome.entries, outcome.heads) == (10, 2)


def test_each_head_grows_from_the_last_and_matches_the_whole_log(stack: Stack, clock):
    refs = history(stack, clock)
    verifier = stack.verifier("supervision")
    verify = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=refs["second"]))

    def head_matches_every_leaf() -> None:
        head = verifier.GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
        with stack.app.db.read() as conn:
            hashes = leaf_hashes(conn)
        assert (head.tree_size, head.root_hash) == (len(hashes), merkle.root(hashes))

    for verifications in (1, 2, 3):  # tree sizes 7, 9, 12: frontiers of 3, 2 and 2 subtrees
        for _ in range(verifications):
            stack.verifier("hall").VerifyLicence(verify)
        head_matches_every_leaf()
    # Heads signed before frontiers were kept have none: the next head reads every leaf.
    _tamper(stack, update(tree_heads).values(frontier=None, last_seq=None))
    stack.verifier("hall").VerifyLicence(verify)
    head_matches_every_leaf()
    stack.verifier("hall").VerifyLicence(verify)
    head_matches_every_leaf()
    assert report(stack).ok


def _tamper(stack: Stack, statement) -> None:
    with stack.app.db.transaction() as conn:
        conn.execute(statement)


def test_edited_licence_version_is_named_and_no_longer_valid(stack: Stack, clock):
    refs = history(stack, clock)
    serial = refs["second"].split(".")[-3]
    _tamper(
        stack,
        update(licence_versions)
        .where(licence_versions.c.serial == serial)
        .values(holder_name="篡改"),
    )
    outcome = report(stack)
    assert not outcome.ok
    assert outcome.first is not None and outcome.first.index == 1  # the second licence's ISSUED
    assert "edited" in outcome.first.what
    answer = stack.verifier("hall").VerifyLicence(
        vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=refs["second"]))
    )
    assert answer.verdict == vpb.VERDICT_CANNOT_CHECK


def test_deleted_receipt_is_named(stack: Stack, clock):
    refs = history(stack, clock)
    _tamper(stack, delete(receipts).where(receipts.c.receipt_id == refs["receipt"]))
    outcome = report(stack)
    assert outcome.first is not None
    assert (outcome.first.ref, outcome.first.what) == (refs["receipt"], "receipt deleted")


def test_reordered_events_are_named(stack: Stack, clock):
    history(stack, clock)
    with stack.app.db.transaction() as conn:
        cursors = (
            conn.execute(select(licence_events.c.cursor).order_by(licence_events.c.cursor))
            .scalars()
            .all()
        )
        a, b = cursors[0], cursors[1]
        conn.execute(update(licence_events).where(licence_events.c.cursor == a).values(cursor=-1))
        conn.execute(update(licence_events).where(licence_events.c.cursor == b).values(cursor=a))
        conn.execute(update(licence_events).where(licence_events.c.cursor == -1).values(cursor=b))
    outcome = report(stack)
    assert outcome.first is not None and "reordered" in outcome.first.what


def test_revoked_licence_set_back_to_active_is_caught(stack: Stack, clock):
    refs = history(stack, clock)
    serial = refs["first"].split(".")[-3]
    _tamper(stack, update(licences).where(licences.c.serial == serial).values(status="active"))
    outcome = report(stack)
    assert any(p.ref == serial and "licence row edited" in p.what for p in outcome.problems)


def test_edited_log_entry_breaks_its_hash_and_the_signed_root(stack: Stack, clock):
    history(stack, clock)
    stack.verifier("supervision").GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    _tamper(
        stack, update(audit_leaves).where(audit_leaves.c.seq == 3).values(payload_sha256="0" * 64)
    )
    outcome = report(stack)
    whats = {p.what for p in outcome.problems}
    assert "log entry altered (hash does not match)" in whats
    assert "root does not match the entries" in whats


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def test_cli_audit_verify_exit_codes(stack: Stack, clock, capsys, monkeypatch, tmp_path):
    refs = history(stack, clock)
    monkeypatch.setenv("DATABASE_URL", stack.app.settings.database_url)
    monkeypatch.setenv("YIHAO_MASTER_KEY_FILE", str(stack.app.settings.master_key_file))
    assert main(["--var-dir", str(tmp_path), "audit", "verify"]) == 0
    assert "OK: 8 entries" in capsys.readouterr().out
    _tamper(stack, delete(receipts).where(receipts.c.receipt_id == refs["receipt"]))
    assert main(["--var-dir", str(tmp_path), "audit", "verify"]) == 1
    assert f"receipt {refs['receipt']}): receipt deleted" in capsys.readouterr().out
