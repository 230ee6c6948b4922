"""Evidence is complete and bound: receipts answer for their own id and log entry, and
`yihao audit verify` names the first entry of every deletion — including the newest entries
deleted together with their heads, given heads saved outside the database. Both backends."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import and_, delete, insert, or_, select, update

from clients.cli import main
from services.audit import load_heads, verify
from services.common.access_log import access_records
from services.common.audit_log import audit_leaves, tree_heads
from services.common.errors import InvalidArgument
from services.common.log_tables import audit_nodes, audit_queue
from services.licence_store import demo
from services.verifier.persistence.tables import receipts
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

COMPANY = "91350100M000100Y43"


def issue_and_verify(
    stack: Stack, clock, verifications: int = 3, *, sequenced: bool = True
) -> tuple[str, list[str]]:
    """A licence verified ``verifications`` times; with ``sequenced`` the receipts' queued log
    entries are appended to the tree before returning (as the sequencer does within 0.1 s),
    so a test editing the tree's leaves finds them there."""
    licence_id = (
        stack.store("market")
        .IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key="evidence-1",
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number="E-1",
                holder=common.Holder(number=COMPANY, name="示例"),
                fields=BUSINESS_FIELDS,
            )
        )
        .licence_id
    )
    ask = vpb.VerifyLicenceRequest(licence=pb.LicenceRef(licence_id=licence_id))
    ids = []
    for _ in range(verifications):
        clock.advance(timedelta(seconds=1))
        ids.append(stack.verifier("hall").VerifyLicence(ask).receipt_id)
    if sequenced:
        stack.app.verifier.transparency.sequence()
    return licence_id, ids


def queue_only(stack: Stack) -> None:
    """Stop the background sequencer: entries queued from now on stay queued until a head is
    signed, a proof asks for them, or another record is appended."""
    stack.app.verifier.receipts.sequencer.close()


def audit(stack: Stack, saved: Path | None = None):
    heads = load_heads(saved) if saved else []
    with stack.app.db.read() as conn:
        return verify(conn, stack.app.verifier.log_keys, stack.app.read.codec, heads)


def tamper(stack: Stack, *statements) -> None:
    with stack.app.db.transaction() as conn:
        for statement in statements:
            conn.execute(statement)


def check(stack: Stack, receipt_id: str) -> vpb.ReceiptCheck:
    """VerifyReceipt's answer — after checking GetReceipt judges the receipt the same way."""
    request = vpb.GetReceiptRequest(receipt_id=receipt_id)
    got = stack.verifier("hall").GetReceipt(request)
    answer = stack.verifier("hall").VerifyReceipt(request)
    assert got.judged and answer.receipt.judged
    assert (got.authentic, got.check_reason) == (answer.authentic, answer.reason)
    assert (answer.receipt.authentic, answer.receipt.check_reason) == (
        answer.authentic,
        answer.reason,
    )
    return answer


def test_a_receipt_is_authentic_with_its_signature_and_its_log_entry(stack: Stack, clock):
    _, ids = issue_and_verify(stack, clock)
    first = check(stack, ids[0])  # under no head yet: one is signed to prove it
    assert (first.authentic, first.reason) == (True, "SIGNATURE_AND_LOG_VERIFIED")
    assert check(stack, ids[-1]).authentic
    assert audit(stack).ok


def test_a_receipt_row_copied_under_a_new_id_is_not_authentic(stack: Stack, clock):
    _, ids = issue_and_verify(stack, clock)
    forged = ids[0][:-4] + "FFFF"
    with stack.app.db.read() as conn:
        row = conn.execute(select(receipts).where(receipts.c.receipt_id == ids[0])).one()
    tamper(stack, insert(receipts).values({**row._mapping, "receipt_id": forged}))
    answer = check(stack, forged)
    assert (answer.authentic, answer.reason) == (False, "RECEIPT_ID_NOT_SIGNED")
    assert check(stack, ids[0]).authentic
    outcome = audit(stack)
    assert [(p.ref, p.what) for p in outcome.problems] == [
        (forged, "receipt not in the log (copied or written behind it)")
    ]


def test_a_receipt_whose_log_entry_is_gone_is_not_authentic(stack: Stack, clock):
    _, ids = issue_and_verify(stack, clock)
    tamper(stack, delete(audit_leaves).where(audit_leaves.c.ref == ids[1]))
    answer = check(stack, ids[1])
    assert (answer.authentic, answer.reason) == (False, "RECEIPT_NOT_IN_LOG")


def test_a_queued_receipt_is_authentic_as_soon_as_it_is_written(stack: Stack, clock):
    queue_only(stack)
    _, ids = issue_and_verify(stack, clock, sequenced=False)
    with stack.app.db.read() as conn:
        logged = conn.execute(select(audit_leaves).where(audit_leaves.c.ref == ids[0]))
        assert logged.first() is None
    answer = check(stack, ids[0])  # sequenced on demand, then a head signed to prove it
    assert (answer.authentic, answer.reason) == (True, "SIGNATURE_AND_LOG_VERIFIED")
    assert audit(stack).ok


def test_a_receipt_whose_queued_log_entry_is_gone_is_not_authentic(stack: Stack, clock):
    queue_only(stack)
    _, ids = issue_and_verify(stack, clock, sequenced=False)
    tamper(stack, delete(audit_queue).where(audit_queue.c.ref == ids[1]))
    assert [(p.ref, p.what) for p in audit(stack).problems] == [
        (ids[1], "receipt not in the log (copied or written behind it)")
    ]
    answer = check(stack, ids[1])
    assert (answer.authentic, answer.reason) == (False, "RECEIPT_NOT_IN_LOG")


def test_a_queued_receipt_edited_before_it_is_sequenced_is_found(stack: Stack, clock):
    queue_only(stack)
    _, ids = issue_and_verify(stack, clock, sequenced=False)
    tamper(stack, update(receipts).where(receipts.c.receipt_id == ids[0]).values(body="{}"))
    found = audit(stack).first
    assert found is not None
    assert (found.index, found.ref, found.what) == (-1, ids[0], "receipt edited")


def test_an_edited_verdict_column_is_not_authentic(stack: Stack, clock):
    _, ids = issue_and_verify(stack, clock)
    tamper(stack, update(receipts).where(receipts.c.receipt_id == ids[0]).values(verdict="revoked"))
    answer = check(stack, ids[0])
    assert (answer.authentic, answer.reason) == (False, "RECEIPT_FIELDS_NOT_SIGNED")
    assert "verdict not as signed" in str(audit(stack).first)


def test_a_deleted_entry_is_named_by_its_index(stack: Stack, clock):
    issue_and_verify(stack, clock)
    stack.verifier("supervision").GetTreeHead(vpb.GetTreeHeadRequest(fresh=True))
    tamper(stack, delete(audit_leaves).where(audit_leaves.c.idx == 2))
    outcome = audit(stack)
    assert outcome.first is not None
    assert (outcome.first.index, outcome.first.what) == (2, "entry deleted (#2 missing)")


def test_the_newest_entries_deleted_with_the_heads_are_named_from_saved_heads(
    stack: Stack, clock, tmp_path: Path
):
    issue_and_verify(stack, clock)  # #0 issued; #1.. receipts and access records
    saved = tmp_path / "heads.jsonl"
    yihao = ["--address", stack.address, "--var-dir", str(stack.pki.directory.parent)]
    assert main([*yihao, "--as", "supervision", "audit", "save-head", "-o", str(saved)]) == 0
    [head] = load_heads(saved)
    size = head.tree_size
    assert size == 7
    assert audit(stack, saved).ok
    with stack.app.db.read() as conn:
        kept = conn.execute(select(audit_leaves.c.ref).where(audit_leaves.c.idx < 3)).scalars()
        kept_refs = set(kept)
    tamper(
        stack,
        delete(audit_leaves).where(audit_leaves.c.idx >= 3),
        # the stored subtrees over the deleted entries would give it away too
        delete(audit_nodes).where(
            or_(audit_nodes.c.level > 1, and_(audit_nodes.c.level == 1, audit_nodes.c.idx > 0))
        ),
        delete(receipts).where(receipts.c.receipt_id.not_in(kept_refs)),
        delete(access_records).where(access_records.c.batch.not_in(kept_refs)),
        delete(tree_heads),
    )
    assert audit(stack).ok, audit(stack).problems  # the database alone cannot tell
    outcome = audit(stack, saved)
    assert outcome.first is not None
    assert outcome.first.index == 3
    saying = f"entries #3..#{size - 1} deleted: a head saved outside the database covers {size}"
    assert outcome.first.what == saying
    assert any("deleted from the database" in p.what for p in outcome.problems)


def test_the_newest_entries_deleted_with_the_heads_show_in_the_stored_subtrees(stack: Stack, clock):
    issue_and_verify(stack, clock)  # 7 entries: subtrees (1,0) (1,1) (1,2) (2,0) remain
    tamper(stack, delete(audit_leaves).where(audit_leaves.c.idx >= 5), delete(tree_heads))
    outcome = audit(stack)
    assert outcome.first is not None
    assert outcome.first.index == 5
    assert outcome.first.what == (
        "entries from #5 deleted: 1 stored subtree hashes cover entries past the last one stored"
    )


def test_cli_audit_verify_reads_saved_heads(stack: Stack, clock, capsys, monkeypatch, tmp_path):
    issue_and_verify(stack, clock, verifications=1)  # #0 issued, #1 receipt, #2 access
    monkeypatch.setenv("DATABASE_URL", stack.app.settings.database_url)
    monkeypatch.setenv("YIHAO_MASTER_KEY_FILE", str(stack.app.settings.master_key_file))
    saved = tmp_path / "heads.jsonl"
    yihao = ["--address", stack.address, "--var-dir", str(stack.pki.directory.parent)]
    assert main([*yihao, "--as", "supervision", "audit", "save-head", "-o", str(saved)]) == 0
    capsys.readouterr()
    local = ["--var-dir", str(tmp_path)]
    assert main([*local, "audit", "verify", "--heads", str(saved)]) == 0
    tamper(stack, delete(audit_leaves).where(audit_leaves.c.idx >= 1), delete(tree_heads))
    assert main([*local, "audit", "verify", "--heads", str(saved)]) == 1
    assert "entry #1 (log #1): entries #1..#2 deleted" in capsys.readouterr().out
    line = json.loads(saved.read_text().splitlines()[0])
    saved.write_text(json.dumps({**line, "signature": "00" * 64}) + "\n")
    assert main([*local, "audit", "verify", "--heads", str(saved)]) == 1
    assert "saved head's signature does not verify" in capsys.readouterr().out


def test_a_bad_heads_file_is_named(tmp_path: Path):
    bad = tmp_path / "heads.jsonl"
    bad.write_text('{"tree_size": 3}\n')
    with pytest.raises(InvalidArgument, match=r"heads.jsonl:1 is not a saved signed tree head"):
        load_heads(bad)
    with pytest.raises(InvalidArgument, match="cannot read"):
        load_heads(tmp_path / "missing.jsonl")
