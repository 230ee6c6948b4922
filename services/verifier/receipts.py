"""Receipts: one signed receipt over a group of answers, made durable with the access records
those answers imply before any answer citing it leaves.

Receipts go through a group committer, so concurrent verifications share one durable write;
a batch stream may leave the write running in a writer thread while it works on its next
chunk (:meth:`ReceiptSealer.seal_later`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from services.common import audit_log
from services.common.access_log import AccessRow, stage_rows
from services.common.clock import Clock
from services.common.database import Database
from services.common.evidence import Entry
from services.common.group_commit import GroupCommitter
from services.common.holder_vault import HolderVault
from services.common.identity import Caller
from services.common.metrics import NO_METRICS, Metrics
from services.common.sequencer import Sequencer
from services.common.signing import canonical_json
from services.common.thread_names import name_this_thread
from services.verifier.budget import MatchGuard
from services.verifier.domain.receipt import (
    KIND,
    Receipt,
    digest_signature,
    digest_signed,
    new_receipt_id,
    receipt_body_of,
)
from services.verifier.domain.verdict import Verdict
from services.verifier.keys import ServiceKeys
from services.verifier.persistence import repository as repo
from services.verifier.results import Answer, ForwardedResult, Result
from services.verifier.vetting import Vetted

#: A signed receipt not yet written: the receipt, its log entry, the access records it implies.
Sealed = tuple[Receipt, Entry, list[AccessRow]]

RECEIPT_WRITERS = 4
#: How long a receipt commit waits for verifications already under way to join it.
RECEIPT_GATHER_SECONDS = 0.002


class ReceiptSealer:
    """Signs receipts with the verifier's receipt key and makes them durable."""

    def __init__(
        self,
        db: Database,
        keys: ServiceKeys,
        vault: HolderVault,
        clock: Clock,
        metrics: Metrics = NO_METRICS,
        guard: MatchGuard | None = None,
    ) -> None:
        self.keys = keys
        self.metrics = metrics
        self.guard = guard
        self.vault = vault
        self.clock = clock
        # Durable writes of receipts run here while batch streams work on their next chunk
        # (group commit still joins concurrent ones into one transaction).
        self._writers = ThreadPoolExecutor(
            RECEIPT_WRITERS, thread_name_prefix="receipts", initializer=name_this_thread
        )
        self._receipts: GroupCommitter[Sealed] = GroupCommitter(
            db, _write_receipts, name="receipts", gather=RECEIPT_GATHER_SECONDS, metrics=metrics
        )
        # Receipts queue their log entries; this appends the queue to the tree many at a time.
        self.sequencer = Sequencer(db, metrics=metrics)

    def close(self) -> None:
        """Flush queued receipts and stop the writers."""
        self._writers.shutdown(wait=True)
        self._receipts.close()
        self.sequencer.close()

    def coming(self) -> AbstractContextManager[None]:
        """Announce a receipt about to be sealed (concurrent ones then share one write)."""
        return self._receipts.coming()

    def record(self, caller: Caller, results: list[Result]) -> list[Result]:
        """Sign one receipt over ``results`` (holder matches past the department's budget
        refused first), make it durable, and stamp its id on each."""
        if self.guard is not None:
            results = self.guard.apply(caller.code, list(results))  # type: ignore[assignment]
        texts = [canonical_json(r.answer(), plain=True) for r in results]
        receipt_id = self.seal(caller, self.clock.now(), results, texts)
        return [replace(r, receipt_id=receipt_id) for r in results]

    def seal(
        self,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[bytes],
    ) -> str:
        """Sign one receipt over ``answers`` (``texts``: each as canonical JSON, UTF-8), make it and
        their access records durable (group commit) and return its id: only then may an
        answer citing it leave."""
        receipt_id, item = self.signed(caller, at, answers, texts)
        self._receipts.submit(item)
        self.sequencer.queued(2)  # the receipt's entry and its access records'
        return receipt_id

    def write_all(self, sealed: Sequence[Sealed]) -> None:
        """Make receipts from :meth:`signed` durable together (group commit)."""
        self._receipts.submit_many(sealed)
        self.sequencer.queued(len(sealed) + 1)

    def seal_later(
        self,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[bytes],
    ) -> tuple[str, Future[None]]:
        """:meth:`seal`, the receipt signed and made durable in another thread (the caller
        goes on to its next chunk meanwhile): no answer citing the receipt may leave before
        the returned future is done (and did not fail)."""
        receipt_id = new_receipt_id(at)
        return receipt_id, self._writers.submit(
            self._seal_as, receipt_id, caller, at, answers, texts
        )

    def _seal_as(
        self,
        receipt_id: str,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[bytes],
    ) -> None:
        self._receipts.submit(self.signed(caller, at, answers, texts, receipt_id)[1])
        self.sequencer.queued(2)

    def signed(
        self,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[bytes],
        receipt_id: str = "",
    ) -> tuple[str, Sealed]:
        """A signed receipt over ``answers`` and the access records they imply, not yet
        written: no answer citing it may leave before it is durable (:meth:`seal`,
        :meth:`seal_later`, :meth:`write_all`). Its id is new unless ``receipt_id`` is given."""
        receipt_id = receipt_id or new_receipt_id(at)
        via = (caller.region, caller.assertion_sha256) if caller.region else None
        body = receipt_body_of(receipt_id, at, caller.code, texts, caller.staff, via)
        key = self.keys.signing_key()
        signature, logged = digest_signature(key.sign, body)
        verdict, licence_id, content_sha256 = _single(answers)
        # A generator: with metrics off it is never run.
        self.metrics.verdicts((a.decision.verdict, a.decision.reason) for a in answers)
        receipt = Receipt(
            receipt_id=receipt_id,
            issued_at=at,
            requester_code=caller.code,
            verdict=verdict,
            licence_id=licence_id,
            content_sha256=content_sha256,
            body=body,
            key_id=key.key_id,
            algorithm=digest_signed(key.algorithm),  # the key signed the body's digest
            signature=signature,
            staff=caller.staff,
        )
        entry = Entry(KIND, receipt_id, logged)  # as receipt_entry(receipt) states it
        return receipt_id, (receipt, entry, _access_rows(caller, answers, at, self.vault))


def _write_receipts(conn: Connection, items: Sequence[Sealed]) -> None:
    """One transaction for a group of receipts and the access records they imply, their log
    entries queued (the sequencer appends them to the tree)."""
    receipts = [receipt for receipt, _, _ in items]
    repo.insert_receipts(conn, receipts)
    entries = [entry for _, entry, _ in items]
    access = stage_rows(conn, [r for _, _, rows in items for r in rows])  # one entry for them
    audit_log.queue(conn, entries if access is None else [*entries, access], receipts[-1].issued_at)


def _access_rows(
    caller: Caller, answers: Sequence[Answer | Result], at: datetime, vault: HolderVault
) -> list[AccessRow]:
    """Each verification of a stored licence is a read of its holder's data."""
    rows: list[AccessRow] = []
    code, staff = caller.code, caller.staff
    channel = f"federation:{caller.region}" if caller.region else CHANNEL
    whats = _WHATS
    if len(whats) >= WHATS_SIZE:
        whats.clear()
    for a in answers:
        if isinstance(a, Answer):
            v = a.vetted
            if v is not None:
                item = a.item
                key = (v, a.names[0], a.decision.verdict)
                what = whats.get(key)
                if what is None:
                    what = whats[key] = f"{a.names[0]} {v.licence_number}: {_said(key[2])}"
                rows.append(
                    (v.holder_index, code, channel, item.purpose, item.case_number, what, at, staff)
                )
        elif a.stored is not None:
            lic = a.stored.licence
            what = f"{a.type_name} {lic.licence_number}: {_said(a.decision.verdict)}"
            why = a.why
            if why.get("consent_grant_id"):
                what += f" under consent {why['consent_grant_id']}"
            rows.append(
                (
                    vault.index(lic.holder),
                    code,
                    channel,
                    why.get("purpose", ""),
                    why.get("case_number", ""),
                    what,
                    at,
                    staff,
                )
            )
        elif isinstance(a, ForwardedResult) and a.matched_holder is not None:
            # Answered by the owning region; the holder is known here only as presented.
            what = f"{a.type_name} via region {a.region}: {_said(a.decision.verdict)}"
            why = a.why
            rows.append(
                (
                    vault.index(a.matched_holder),
                    code,
                    f"forwarded:{a.region}",
                    why.get("purpose", ""),
                    why.get("case_number", ""),
                    what,
                    at,
                    staff,
                )
            )
    return rows


#: What a fast-path access record says, by (version checked, type name, verdict), kept across
#: chunks: a batch names the same licences again and again, and the same text object (whose
#: UTF-8 form the driver keeps once made) saves formatting and encoding it each time. It
#: holds no more than the memo of checked versions does (a licence's type name and number,
#: a verdict), nothing of who asked. Bounded: emptied when full.
_WHATS: Final[dict[tuple[Vetted, str, Verdict], str]] = {}
WHATS_SIZE: Final = 100_000

_SAID: Final = {v: f"verified, {v.value.upper()}" for v in Verdict}


def _said(verdict: Verdict) -> str:
    """What an access record says the verification answered."""
    return _SAID[verdict]


CHANNEL: Final = "verification"


def _single(answers: Sequence[Answer | Result]) -> tuple[Verdict | None, str, str]:
    """(verdict, licence id, content hash) a receipt of one answer states outside its body."""
    if len(answers) != 1:
        return None, "", ""
    a = answers[0]
    if isinstance(a, Answer):
        v = a.vetted
        return a.decision.verdict, v.licence_id if v else "", v.content_sha256 if v else ""
    said = a.answer()
    return a.decision.verdict, said["licence_id"], said["content_sha256"]
