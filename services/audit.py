"""``yihao audit verify``: recompute the tamper-evident log from the database and check it.

Every leaf is recomputed from the record it logs (licence events with the hash of the version
each left in force, receipts, assistance decisions) and compared with what was logged; every
signed tree head is recomputed from the leaves and its signature checked. The report names
the first entry that was edited, deleted or reordered — and records written behind the log's
back, and licence rows that no longer agree with their events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from services.assistance.domain.requests import RequestStatus, decision_entry
from services.assistance.persistence import repository as assistance_repo
from services.common import audit_log, merkle
from services.common.audit_log import Leaf, TreeHead
from services.common.evidence import Entry
from services.common.holder_vault import HolderVault
from services.common.signing import PublicKey, canonical_json, sha256_hex
from services.licence_store.audit import KIND as LICENCE_EVENT
from services.licence_store.audit import event_entry, event_ref
from services.licence_store.persistence import repository as store_repo
from services.licence_store.persistence.codec import LicenceCodec
from services.licence_store.persistence.repository import StoredEvent
from services.licence_store.persistence.tables import licences
from services.verifier.domain.receipt import receipt_entry
from services.verifier.keys import ServiceKeys
from services.verifier.persistence import repository as verifier_repo


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


def verify(conn: Connection, keys: ServiceKeys, codec: LicenceCodec) -> AuditReport:
    """Check every leaf and every signed head against the database."""
    leaves = audit_log.leaves(conn)
    report = AuditReport(entries=len(leaves))
    report.problems += list(_altered_leaves(leaves))
    events = [x for x in leaves if x.kind == LICENCE_EVENT]
    report.problems += list(_licence_events(conn, events, codec))
    report.problems += list(_receipts(conn, [x for x in leaves if x.kind == "receipt"]))
    decisions = [x for x in leaves if x.kind == "assistance_decision"]
    report.problems += list(_decisions(conn, decisions, vault_of(codec)))
    report.problems += list(_licence_rows(conn))
    heads = audit_log.heads(conn)
    report.heads = len(heads)
    report.problems += list(_heads(heads, leaves, keys))
    return report


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


def vault_of(codec: LicenceCodec) -> HolderVault:
    """The vault behind a codec."""
    return codec.vault


def _decisions(conn: Connection, leaves: list[Leaf], vault: HolderVault) -> Iterator[Problem]:
    for leaf in leaves:
        request = assistance_repo.get_request(conn, leaf.ref, vault)
        if request is None or request.status is RequestStatus.PENDING:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "assistance decision deleted")
        elif decision_entry(request, vault).payload_sha256 != leaf.payload_sha256:
            yield Problem(leaf.index, leaf.kind, leaf.ref, "assistance decision edited")


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


def _heads(heads: list[TreeHead], leaves: list[Leaf], keys: ServiceKeys) -> Iterator[Problem]:
    recomputed = [
        merkle.leaf_hash(audit_log.leaf_data(Entry(x.kind, x.ref, x.payload_sha256)))
        for x in leaves
    ]
    for head in heads:
        ref = str(head.tree_size)
        if head.tree_size > len(recomputed):
            yield Problem(-1, "tree_head", ref, "the log holds fewer entries than a signed head")
            continue
        if merkle.root(recomputed[: head.tree_size]) != head.root_hash:
            yield Problem(-1, "tree_head", ref, "root does not match the entries")
        key = keys.public(head.key_id)
        public = PublicKey(key.key_id, key.algorithm, key.public_key) if key else None
        if public is None or not public.verify(head.signed_bytes(), head.signature):
            yield Problem(-1, "tree_head", ref, "signature does not verify")
