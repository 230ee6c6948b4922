"""``yihao audit verify``: recompute the tamper-evident log from the database and check it.

Every leaf is recomputed from the record it logs (licence events with the hash of the version
each left in force, receipts, assistance decisions) and compared with what was logged; every
signed tree head is recomputed from the leaves and its signature checked. The report names
the first entry that was edited, deleted or reordered — and records written behind the log's
back, and licence rows that no longer agree with their events.

Deletions are named by position: leaves carry their tree index, so a deleted entry is a gap
(``entry #k``), and entries deleted from the end are the ones a signed head covers beyond
the last stored. Heads kept outside the database (``--heads FILE``, saved earlier with
``yihao audit save-head``) catch the one deletion the database's own heads cannot: the newest
entries deleted together with the heads that covered them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from services.assistance.domain.requests import RequestStatus, decision_body, decision_entry
from services.assistance.persistence import repository as assistance_repo
from services.assistance.persistence.tables import assistance_requests
from services.common import audit_log, log_tree, merkle
from services.common.access_log import KIND as ACCESS
from services.common.access_log import (
    LEGACY_BATCH,
    ROW_COLUMNS,
    access_records,
    holder_tag,
    row_line,
)
from services.common.audit_log import Leaf, TreeHead
from services.common.errors import InvalidArgument
from services.common.evidence import Entry
from services.common.holder_vault import HolderVault
from services.common.log_tables import audit_nodes
from services.common.signing import PublicKey, canonical_json, sha256_hex
from services.federation.forwarded_table import forwarded_findings
from services.licence_store.audit import KIND as LICENCE_EVENT
from services.licence_store.audit import event_entry, event_ref
from services.licence_store.consent_audit import consent_findings
from services.licence_store.domain.stored import StoredEvent
from services.licence_store.key_log import KIND as KEY_MARKS
from services.licence_store.key_log import key_ref, read_key, trusted
from services.licence_store.persistence import repository as store_repo
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.persistence.tables import department_keys, licences
from services.verifier.domain.receipt import receipt_entry, unsigned_fields
from services.verifier.keys import ServiceKeys
from services.verifier.persistence import repository as verifier_repo
from services.verifier.persistence.tables import receipts


@dataclass(frozen=True)
class Problem:
    """One thing found wrong: which entry (tree index; -1 for a tree head), and what."""

    index: int
    kind: str
    ref: str
    what: str

    def __str__(self) -> str:
        where = f"entry #{self.index}" if self.index >= 0 else "tree head"
        return f"{where} ({self.kind} {self.ref}): {self.what}"


@dataclass
class AuditReport:
    """The outcome of a full check."""

    entries: int = 0
    heads: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The earliest problem in log order (tree heads last)."""
        ordered = sorted(self.problems, key=lambda p: (p.index < 0, p.index))
        return ordered[0] if ordered else None


def sign_tree_head(conn: Connection, keys: ServiceKeys, at: datetime) -> TreeHead:
    """Sign the log as it is now (a no-op if it has not grown since the last head)."""
    return audit_log.sign_head(conn, keys.signing_key(), at)


def verify(
    conn: Connection,
    keys: ServiceKeys,
    codec: LicenceCodec,
    saved: Sequence[TreeHead] = (),
    decision_keys: ServiceKeys | None = None,
) -> AuditReport:
    """Check every leaf and every signed head against the database; ``saved``: signed heads
    kept outside it (each must still be a prefix of the log, and still be in it);
    ``decision_keys``: the keys signed assistance decisions are checked against."""
    leaves = audit_log.leaves(conn)
    report = AuditReport(entries=len(leaves))
    # Entries queued for the tree (not yet sequenced): their records are checked all the same.
    queued = audit_log.queued(conn)
    gaps = list(_gaps(leaves))
    report.problems += gaps
    report.problems += list(_altered_leaves(leaves))
    if not gaps:
        report.problems += list(_stored_nodes(conn, leaves))
    events = [x for x in leaves if x.kind == LICENCE_EVENT]
    report.problems += list(_licence_events(conn, events, codec))
    receipt_leaves = [x for x in [*leaves, *queued] if x.kind == "receipt"]
    report.problems += list(_receipts(conn, receipt_leaves))
    report.problems += list(_unlogged_receipts(conn, receipt_leaves))
    decisions = [x for x in leaves if x.kind == "assistance_decision"]
    report.problems += list(_decisions(conn, decisions, vault_of(codec), decision_keys))
    report.problems += list(_unlogged_decisions(conn, decisions))
    access = [x for x in [*leaves, *queued] if x.kind == ACCESS]
    report.problems += list(check_access_records(conn, access))
    report.problems += [Problem(*f) for f in consent_findings(conn, leaves)]
    report.problems += [Problem(*f) for f in forwarded_findings(conn, leaves)]
    report.problems += list(_licence_rows(conn))
    report.problems += list(_key_marks(conn))
    heads = audit_log.heads(conn)
    report.heads = len(heads)
    report.problems += list(_heads(heads, leaves, keys))
    report.problems += list(_saved_heads(saved, heads, leaves, keys))
    return report


def _gaps(leaves: Iterable[Leaf]) -> Iterator[Problem]:
    """Leaf indexes run 0, 1, 2, …: a jump is a deleted entry (named: the first missing)."""
    expected = 0
    for leaf in leaves:
        if leaf.index != expected:
            gone = (
                f"#{expected}" if leaf.index == expected + 1 else f"#{expected}..#{leaf.index - 1}"
            )
            yield Problem(expected, "log", f"#{expected}", f"entry deleted ({gone} missing)")
        expected = leaf.index + 1


def _stored_nodes(conn: Connection, leaves: list[Leaf]) -> Iterator[Problem]:
    """The stored subtree hashes proofs are served from must be those of the stored leaves.
    Named: the first leaf under the first subtree that differs or is missing; and subtrees
    that outlived their leaves — the newest entries deleted, even with their heads — from the
    first entry past the last stored."""
    expected = dict(
        ((level, idx), h)
        for level, idx, h in log_tree.nodes_of(0, [], (leaf.leaf_hash for leaf in leaves))
    )
    stored = {
        (r.level, r.idx): bytes(r.hash)
        for r in conn.execute(select(audit_nodes.c.level, audit_nodes.c.idx, audit_nodes.c.hash))
    }
    altered = [k for k in expected if stored.get(k) != expected[k]]
    if altered:
        level, idx = min(altered, key=lambda k: (k[1] << k[0], -k[0]))
        first = idx << level
        yield Problem(
            first,
            "log",
            f"#{first}",
            f"stored subtree hash (level {level}, index {idx}) altered or missing "
            f"({len(altered)} in all): proofs served from it would not verify",
        )
    if extra := [k for k in stored if k not in expected]:
        end = len(leaves)
        yield Problem(
            end,
            "log",
            f"#{end}",
            f"entries from #{end} deleted: {len(extra)} stored subtree hashes cover entries "
            "past the last one stored",
        )


def _altered_leaves(leaves: Iterable[Leaf]) -> Iterator[Problem]:
    for leaf in leaves:
        expected = merkle.leaf_hash(
            audit_log.leaf_data(Entry(leaf.kind, leaf.ref, leaf.payload_sha256))
        )
        if expected != leaf.leaf_hash:
            yield Problem(
                leaf.index, leaf.kind, leaf.ref, "log entry altered (hash does not match)"
            )


def _content_sha(conn: Connection, serial: str, version: int, codec: LicenceCodec) -> str:
    stored = store_repo.get_version(conn, serial, version, codec)
    if stored is None:
        return ""
    return sha256_hex(canonical_json(stored.licence.content(), plain=True))


def _licence_events(conn: Connection, leaves: list[Leaf], codec: LicenceCodec) -> Iterator[Problem]:
    events = {event_ref(e.serial, e.event): e for e in _all_events(conn)}
    last_cursor = 0
    for leaf in leaves:
        stored = events.pop(leaf.ref, None)
        if stored is None:
            yield Problem(
                leaf.index, leaf.kind, leaf.ref, "record deleted (or its key fields edited)"
            )
            continue
        content = _content_sha(conn, stored.serial, stored.event.version, codec)
        if event_entry(stored.serial, stored.event, content).payload_sha256 != leaf.payload_sha256:
            yield Problem(
                leaf.index, leaf.kind, leaf.ref, "record edited (event or licence version)"
            )
        if stored.cursor < last_cursor:
            yield Problem(
                leaf.index, leaf.kind, leaf.ref, "records reordered (cursor out of log order)"
            )
        last_cursor = max(last_cursor, stored.cursor)
    for ref in events:
        yield Problem(-1, LICENCE_EVENT, ref, "event not in the log (written behind its back)")


def _all_events(conn: Connection) -> Iterator[StoredEvent]:
    cursor = 0
    while batch := store_repo.events_after(conn, cursor, (), 10_000):
        yield from batch
        cursor = batch[-1].cursor


def _receipts(conn: Connection, leaves: list[Leaf]) -> Iterator[Problem]:
    for leaf in leaves:
        receipt = verifier_repo.get_receipt(conn, leaf.ref)
        if receipt is None:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "receipt deleted")
        elif receipt_entry(receipt).payload_sha256 != leaf.payload_sha256:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "receipt edited")
        elif unsigned := unsigned_fields(receipt):
            what = f"receipt row edited ({', '.join(unsigned)} not as signed)"
            yield Problem(leaf.index, leaf.kind, leaf.ref, what)


def _unlogged_receipts(conn: Connection, leaves: list[Leaf]) -> Iterator[Problem]:
    """A receipt with no log entry was copied or written behind the log's back."""
    logged = {leaf.ref for leaf in leaves}
    ids = conn.execute(select(receipts.c.receipt_id).order_by(receipts.c.receipt_id)).scalars()
    for receipt_id in ids:
        if receipt_id not in logged:
            yield Problem(
                -1, "receipt", receipt_id, "receipt not in the log (copied or written behind it)"
            )


def vault_of(codec: LicenceCodec) -> HolderVault:
    """The vault behind a codec."""
    return codec.vault


def _decisions(
    conn: Connection, leaves: list[Leaf], vault: HolderVault, keys: ServiceKeys | None
) -> Iterator[Problem]:
    for leaf in leaves:
        request = assistance_repo.get_request(conn, leaf.ref, vault)
        if request is None or request.status is RequestStatus.PENDING:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "assistance decision deleted")
        elif decision_entry(request, vault).payload_sha256 != leaf.payload_sha256:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "assistance decision edited")
        elif request.seal is not None:
            what = _seal_problem(request, vault, keys)
            if what:
                yield Problem(leaf.index, leaf.kind, leaf.ref, what)


def _seal_problem(request: Any, vault: HolderVault, keys: ServiceKeys | None) -> str:
    """What is wrong with a signed decision's statement ("" if nothing): it must be the
    statement of this request's id and stored content, signed by a published key."""
    seal = request.seal
    if seal.body != decision_body(request, vault.index(request.holder)):
        return "assistance decision not as signed (its id or content differs from the statement)"
    if keys is not None:
        key = keys.public(seal.key_id)
        public = PublicKey(key.key_id, key.algorithm, key.public_key) if key else None
        if public is None or not public.verify(seal.body, seal.signature):
            return "assistance decision's signature does not verify"
    return ""


@dataclass
class _Batch:
    """What the access records of one batch hash to now."""

    digest: Any
    count: int
    first_id: int
    mistagged: int = 0  # the first record whose holder_tag is not its key's (0: none)


def _access_batches(conn: Connection) -> dict[str, _Batch]:
    """Every batch of access records as stored now (legacy rows under LEGACY_BATCH)."""
    batches: dict[str, _Batch] = {}
    columns = [access_records.c[c] for c in ("id", *ROW_COLUMNS)]
    after = 0
    while rows := conn.execute(
        select(*columns, access_records.c.batch, access_records.c.holder_tag)
        .where(access_records.c.id > after)
        .order_by(access_records.c.id)
        .limit(10_000)
    ).all():
        for r in rows:
            key = r.batch or LEGACY_BATCH
            batch = batches.get(key)
            if batch is None:
                batch = batches[key] = _Batch(hashlib.sha256(), 0, r.id)
            batch.digest.update(row_line(tuple(r)[1:9]).encode())
            batch.count += 1
            if not batch.mistagged and r.holder_tag != holder_tag(r.holder_key):
                batch.mistagged = r.id
        after = rows[-1].id
    return batches


def check_access_records(conn: Connection, leaves: list[Leaf]) -> Iterator[Problem]:
    """Each logged batch of access records must still hash as logged; each stored batch must
    be logged. Named: the batch's log entry (a deletion), or its first record (no entry)."""
    batches = _access_batches(conn)
    for leaf in leaves:
        batch = batches.pop(leaf.ref, None)
        if batch is None:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "access records deleted (the batch)")
        elif batch.digest.hexdigest() != leaf.payload_sha256:
            what = f"access records deleted or edited ({batch.count} left in the batch)"
            yield Problem(leaf.index, leaf.kind, leaf.ref, what)
        elif batch.mistagged:
            # The tag is not digested (it is derived): an edited one hides the record from
            # its holder's page without changing the batch's digest.
            what = f"access record {batch.mistagged} hidden from its holder (holder_tag edited)"
            yield Problem(leaf.index, leaf.kind, leaf.ref, what)
    for ref, batch in sorted(batches.items(), key=lambda kv: kv[1].first_id):
        what = f"access records not in the log, from record {batch.first_id} (written behind it)"
        yield Problem(-1, ACCESS, ref, what)


def _key_marks(conn: Connection) -> Iterator[Problem]:
    """Every signing key's stored marks must be the ones its newest log entry commits to (a key
    never marked has no entry yet)."""
    for (key_id,) in conn.execute(select(department_keys.c.key_id).order_by("key_id")):
        key, logged = read_key(conn, key_id)
        if key is None:
            continue
        if not trusted(key, logged):
            what = "key marks (validity, compromise) edited" if logged else "key marks not logged"
            yield Problem(-1, KEY_MARKS, key_ref(key_id), what)


def _unlogged_decisions(conn: Connection, leaves: list[Leaf]) -> Iterator[Problem]:
    """A decided request with no log entry was copied or decided behind the log's back."""
    logged = {leaf.ref for leaf in leaves}
    requests = assistance_requests
    decided = conn.execute(
        select(requests.c.request_id)
        .where(requests.c.status != RequestStatus.PENDING.value)
        .order_by(requests.c.request_id)
    ).scalars()
    for request_id in decided:
        if request_id not in logged:
            yield Problem(
                -1,
                "assistance_decision",
                request_id,
                "assistance decision not in the log (copied or written behind it)",
            )


def _licence_rows(conn: Connection) -> Iterator[Problem]:
    """A licence's current state must be where its last event left it."""
    last: dict[str, StoredEvent] = {}
    for e in _all_events(conn):
        last[e.serial] = e
    for row in conn.execute(
        select(licences.c.serial, licences.c.status, licences.c.current_version)
    ):
        event = last.get(row.serial)
        if event is None:
            yield Problem(-1, "licence", row.serial, "licence with no events")
        elif (row.status, row.current_version) != (
            event.event.status_after.value,
            event.event.version,
        ):
            yield Problem(
                -1,
                "licence",
                row.serial,
                "licence row edited (status or version differs from its events)",
            )


def _recomputed(leaves: list[Leaf]) -> list[bytes]:
    return [
        merkle.leaf_hash(audit_log.leaf_data(Entry(x.kind, x.ref, x.payload_sha256)))
        for x in leaves
    ]


def _signed_by_log(head: TreeHead, keys: ServiceKeys) -> bool:
    key = keys.public(head.key_id)
    public = PublicKey(key.key_id, key.algorithm, key.public_key) if key else None
    return public is not None and public.verify(head.signed_bytes(), head.signature)


def _truncated(head: TreeHead, stored: int, whose: str) -> Problem:
    """Entries a head covers beyond the last stored one: named from the first missing."""
    return Problem(
        stored,
        "log",
        f"#{stored}",
        f"entries #{stored}..#{head.tree_size - 1} deleted: {whose} covers {head.tree_size}",
    )


def _heads(heads: list[TreeHead], leaves: list[Leaf], keys: ServiceKeys) -> Iterator[Problem]:
    recomputed = _recomputed(leaves)
    stored = leaves[-1].index + 1 if leaves else 0
    for head in heads:
        ref = str(head.tree_size)
        if head.tree_size > stored:
            yield _truncated(head, stored, "a signed head in the database")
        elif merkle.root(recomputed[: head.tree_size]) != head.root_hash:
            yield Problem(-1, "tree_head", ref, "root does not match the entries")
        if not _signed_by_log(head, keys):
            yield Problem(-1, "tree_head", ref, "signature does not verify")


def _saved_heads(
    saved: Sequence[TreeHead], heads: list[TreeHead], leaves: list[Leaf], keys: ServiceKeys
) -> Iterator[Problem]:
    """Heads kept outside the database: the log must still hold what each one signed."""
    recomputed = _recomputed(leaves)
    stored = leaves[-1].index + 1 if leaves else 0
    in_db = {(h.tree_size, h.root_hash) for h in heads}
    for head in saved:
        ref = f"saved {head.tree_size}"
        if not _signed_by_log(head, keys):
            yield Problem(-1, "tree_head", ref, "saved head's signature does not verify")
            continue
        if head.tree_size > stored:
            yield _truncated(head, stored, "a head saved outside the database")
        elif merkle.root(recomputed[: head.tree_size]) != head.root_hash:
            yield Problem(
                -1, "tree_head", ref, "the log's first entries no longer hash to a saved head"
            )
        if (head.tree_size, head.root_hash) not in in_db:
            yield Problem(-1, "tree_head", ref, "a saved signed head was deleted from the database")


def load_heads(path: Path) -> list[TreeHead]:
    """Signed heads saved by ``yihao audit save-head`` (JSON, one head per line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument.field("heads", f"cannot read {path}: {exc}", "UNREADABLE") from exc
    heads = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            heads.append(_head_of(line, f"{path}:{number}"))
    return heads


def _head_of(line: str, where: str) -> TreeHead:
    try:
        data = json.loads(line)
        at = datetime.fromisoformat(data["at"])
        head = TreeHead(
            int(data["tree_size"]),
            bytes.fromhex(data["root_hash"]),
            at,
            str(data["key_id"]),
            bytes.fromhex(data["signature"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument.field(
            "heads", f"{where} is not a saved signed tree head ({exc})", "FORMAT"
        ) from exc
    if at.tzinfo is None or head.tree_size < 0 or len(head.root_hash) != merkle.HASH_SIZE:
        raise InvalidArgument.field("heads", f"{where} is not a saved signed tree head", "FORMAT")
    return head
