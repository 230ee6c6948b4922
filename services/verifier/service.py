"""The verifier's application service: verdicts with signed, durable receipts.

It reads licences only through the licence store's reader
(:class:`~services.licence_store.reader.LicenceReader`) and writes only its own tables
(receipts, keys, service items). Every answer carries the id of a receipt that was committed
before the answer left (:mod:`~services.verifier.receipts`). The parts, each given what it
uses: :class:`~services.verifier.checking.Checker` (the full path),
:class:`~services.verifier.batch.BatchVerifier` (the fast path by reference),
:class:`~services.verifier.receipts.ReceiptSealer`, and the documents, materials and
transparency use cases.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.common.clock import Clock
from services.common.combining import Combiner
from services.common.database import Database
from services.common.errors import InvalidArgument, NotFound
from services.common.holder_vault import HolderVault
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    mask_holder_number,
    parse_holder_number,
)
from services.common.identity import Caller
from services.common.match_budget import MatchBudget
from services.common.metrics import NO_METRICS, Metrics
from services.common.purpose import why_in
from services.common.ratelimit import RateLimiter
from services.common.sealing import Sealer
from services.licence_store.domain.consent import Matter
from services.licence_store.domain.grants import purpose_allowed
from services.licence_store.domain.stored import StoredLicence
from services.licence_store.reader import ConsentChecker, LicenceReader
from services.verifier.batch import BatchVerifier, Chunk, Holders, Prepared
from services.verifier.budget import MatchGuard
from services.verifier.checking import Checker
from services.verifier.documents import Documents
from services.verifier.domain.receipt import Receipt
from services.verifier.domain.verdict import Verdict
from services.verifier.keys import ServiceKeys
from services.verifier.materials import Materials
from services.verifier.persistence import repository as repo
from services.verifier.receipt_check import ReceiptCheck
from services.verifier.receipts import ReceiptSealer
from services.verifier.results import Asked, Presented, Result
from services.verifier.transparency import HeadKeeper, Transparency
from services.verifier.vetting import SignatureMemo


class VerifierService:
    """VerifyLicence, VerifyByHolder, batches, documents, receipts."""

    def __init__(
        self,
        reader: LicenceReader,
        db: Database,
        sealer: Sealer,
        clock: Clock,
        vault: HolderVault,
        metrics: Metrics = NO_METRICS,
        *,
        consent: ConsentChecker,
        limiter: RateLimiter | None = None,
        budget: MatchBudget | None = None,
        keeper: HeadKeeper | None = None,
    ) -> None:
        """``keeper``: keeps the log's signed heads outside the database, if configured."""
        self.reader = reader
        self.consent = consent
        self.metrics = metrics
        self.limiter = limiter
        self.db = db
        self.clock = clock
        self.receipt_keys = ServiceKeys(db, sealer, "receipt", clock)
        self.qr_keys = ServiceKeys(db, sealer, "qr", clock)
        self.log_keys = ServiceKeys(db, sealer, "log", clock)
        self.memo = SignatureMemo()
        self.checker = Checker(reader, clock, self.memo)
        guard = MatchGuard(budget, vault, metrics) if budget is not None else None
        self.receipts = ReceiptSealer(db, self.receipt_keys, vault, clock, metrics, guard)
        self.fast = BatchVerifier(
            reader, vault, clock, self.checker, self.receipts, limiter=limiter
        )
        self._combiner: Combiner[tuple[Caller, Prepared, Holders], Chunk] = Combiner(
            self.fast.answer_each, name="verify", metrics=metrics
        )
        self.documents = Documents(reader, self.checker, self.receipts, self.qr_keys, clock)
        self.materials = Materials(db, reader, self.checker, self.receipts, clock, consent)
        self.transparency = Transparency(db, self.log_keys, clock, keeper)
        self.receipt_check = ReceiptCheck(db, self.receipt_keys, self.log_keys, self.transparency)

    def close(self) -> None:
        """Flush queued receipts and stop the writers."""
        self.receipts.close()

    def check(
        self, stored: StoredLicence | None, presented: Presented, asked: dict[str, Any]
    ) -> Result:
        """The verdict on ``stored`` (None: not in the store) for what was presented."""
        return self.checker.check(stored, presented, asked)

    # ---------------------------------------------------------------------- use cases

    def verify(self, caller: Caller, asked: Asked) -> Chunk:
        """Verify one licence and record a receipt (a malformed item is the caller's error)."""
        self.fast.charge(caller, [asked])
        holders = self.fast.holders()
        prepared = self.fast.prepare(asked, holders)
        if asked.as_of is not None:
            with self.receipts.coming():
                return self.fast.answer(caller, [prepared], holders)
        return self._combiner.submit((caller, prepared, holders))

    def charge_question(self, caller: Caller, presented: Presented) -> None:
        """Charge one holder-match question (a presented number or name) to the department."""
        if self.limiter is not None and (presented.holder_number or presented.holder_name.strip()):
            self.limiter.charge(caller.code, "holder_match", 1)

    def verify_by_holder(
        self,
        caller: Caller,
        holder_number: str,
        type_codes: Sequence[str],
        presented_name: str,
        *,
        valid_only: bool = False,
        context: dict[str, str] | None = None,
        elsewhere: Callable[[HolderNumber, Presented], Sequence[Result]] | None = None,
    ) -> list[Result]:
        """Every licence of the holder of the given types, each with its verdict; one receipt.

        ``elsewhere(holder, presented)``: the answers of other regions, asked once the question
        is valid here (federation); their NOT_FOUND answers ("none there") are left out unless
        nothing at all was found."""
        holder = parse_holder_number(holder_number, "holder_number")
        ctx = context or {}
        why = why_in(
            ctx.get("purpose", ""),
            ctx.get("case_number", ""),
            required=holder.kind is HolderKind.PERSON,
        )
        self.consent.lookup_allowed(caller.code, holder)
        passed = self.consent.authorise(
            caller.code,
            holder,
            list(type_codes) or None,
            Matter(case_number=why.case_number),
            ctx.get("consent_grant_id", ""),
            channel="verifier",
        )
        presented = Presented(
            holder,
            presented_name,
            purpose=why.purpose,
            case_number=why.case_number,
            consent_grant_id=passed.grant_id,
        )
        if presented_name.strip():
            self.charge_question(caller, presented)
        asked: dict[str, Any] = {
            "holder_number": mask_holder_number(holder.value, holder.kind),
            "type_codes": list(type_codes),
        }
        if passed.grant_id:
            asked["consent_grant_id"] = passed.grant_id
        grants = self.reader.read_grants()
        results = [
            self.checker.check(stored, presented, asked)
            for stored in self.reader.holder_licences(holder, type_codes)
            if passed.admits(stored.licence.type_code, stored.licence.serial)
            and (
                not why.purpose
                or purpose_allowed(grants, caller.code, stored.licence.type_code, why.purpose)
            )
        ]
        if valid_only:
            results = [r for r in results if r.decision.verdict is Verdict.VALID]
        if elsewhere is not None:
            results += [
                r
                for r in elsewhere(holder, presented)
                if r.decision.verdict is not Verdict.NOT_FOUND
            ]
        self.consent.looked_up(caller.code, holder, bool(results))
        if not results:
            results = [self.checker.check(None, presented, asked)]
        recorded = self.record_receipt(caller, results)
        self.consent.used(passed, caller.code, "verifier", "verified by holder number")
        return recorded

    def verify_batch(
        self,
        caller: Caller,
        items: Sequence[Asked],
        answered: Mapping[int, Result] | None = None,
    ) -> Chunk:
        """A chunk of a batch: one verdict per item, items independent; one receipt.
        ``answered``: items already answered elsewhere (by another region), by position.

        The receipt may still be being written: wait for ``Chunk.durable`` before answering.
        """
        return self.fast.verify(caller, items, answered)

    def record_receipt(self, caller: Caller, results: list[Result]) -> list[Result]:
        """Sign one receipt over ``results``, make it durable, and stamp its id on each."""
        return self.receipts.record(caller, results)

    # ----------------------------------------------------------------------- receipts

    def get_receipt(self, receipt_id: str) -> Receipt:
        """A receipt by id (anyone holding the id may read it)."""
        receipt_id = receipt_id.strip()
        if not receipt_id or len(receipt_id) > 32 or not receipt_id.isalnum():
            raise InvalidArgument.field("receipt_id", "is not a receipt id", "FORMAT")
        with self.db.read() as conn:
            receipt = repo.get_receipt(conn, receipt_id)
        if receipt is None:
            raise NotFound(f"no receipt {receipt_id}", reason="RECEIPT_NOT_FOUND")
        return receipt
