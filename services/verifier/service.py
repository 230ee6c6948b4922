"""The verifier's application service: verdicts with signed, durable receipts.

It reads licences only through the licence store's read interface (in process) and writes
only its own tables (receipts, keys, service items). Every answer carries the id of a receipt
that was committed before the answer left: receipts go through a group committer, so
concurrent verifications share one durable write.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from services.common import audit_log
from services.common.access_log import AccessRow, stage_rows
from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import InvalidArgument, NotFound, YihaoError
from services.common.group_commit import GroupCommitter
from services.common.holder_vault import HolderVault
from services.common.identifiers import (
    HolderNumber,
    mask_holder_number,
    mask_name,
    parse_holder_number,
)
from services.common.identity import Caller
from services.common.metrics import NO_METRICS, Metrics
from services.common.sealing import Sealer
from services.common.signing import PublicKey, canonical_json, sha256_hex
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.licence import Status
from services.licence_store.persistence.repository import StoredLicence
from services.licence_store.service import LicenceRef, LicenceStoreService
from services.verifier.batch import (
    MAX_CLIENT_REF,
    MAX_REASON,
    Answer,
    Asked,
    BatchVerifier,
    Chunk,
)
from services.verifier.domain.receipt import (
    Receipt,
    new_receipt_id,
    receipt_body_of,
    receipt_entry,
)
from services.verifier.domain.verdict import (
    STANDARD_CHECKS,
    Decision,
    HolderMatch,
    Integrity,
    StatusChange,
    Verdict,
    decide,
    name_match,
    not_found,
    number_match,
    status_at,
)
from services.verifier.keys import ServiceKeys
from services.verifier.persistence import repository as repo
from services.verifier.vetting import Vetted

SIGNATURE_MEMO_SIZE = 200_000
RECEIPT_WRITERS = 4
#: How long a receipt commit waits for verifications already under way to join it.
RECEIPT_GATHER_SECONDS = 0.002


@dataclass(frozen=True)
class Presented:
    """What the applicant presented at the counter, and what the question is about."""

    holder_number: HolderNumber | None = None
    holder_name: str = ""
    as_of: datetime | None = None
    purpose: str = ""
    case_number: str = ""
    client_ref: str = ""

    @property
    def why(self) -> dict[str, str]:
        """Purpose and case, for the access record."""
        return {"purpose": self.purpose, "case_number": self.case_number}

    @classmethod
    def parse(
        cls,
        holder_number: str = "",
        holder_name: str = "",
        as_of: datetime | None = None,
        **context: str,
    ) -> Presented:
        """Validate what was presented (a bad holder number is the caller's error)."""
        number = (
            parse_holder_number(holder_number, "presented_holder_number")
            if holder_number.strip()
            else None
        )
        if len(holder_name) > 200:
            raise InvalidArgument.field(
                "presented_holder_name", "at most 200 characters", "TOO_LONG"
            )
        if len(context.get("client_ref", "")) > MAX_CLIENT_REF:
            raise InvalidArgument.field(
                "client_ref", f"at most {MAX_CLIENT_REF} characters", "TOO_LONG"
            )
        return cls(number, holder_name, as_of, **context)


@dataclass(frozen=True)
class Result:
    """One verification: the verdict and everything the answer and the receipt state."""

    decision: Decision
    number_match: HolderMatch
    name_match: HolderMatch
    checked_at: datetime
    as_of: datetime
    checks: tuple[str, ...]
    stored: StoredLicence | None = None
    integrity: Integrity | None = None
    type_name: str = ""
    issuer_name: str = ""
    asked: dict[str, Any] = field(default_factory=dict)
    client_ref: str = ""
    receipt_id: str = ""
    document_authentic: bool = False
    why: dict[str, str] = field(default_factory=dict)

    def answer(self) -> dict[str, Any]:
        """The receipt's record of this verification."""
        lic = self.stored.licence if self.stored else None
        return {
            "asked": self.asked,
            "as_of": self.as_of.isoformat(),
            "verdict": self.decision.verdict.value,
            "reason": self.decision.reason,
            "holder_number_match": self.number_match.value,
            "holder_name_match": self.name_match.value,
            "licence_id": self.stored.signed.licence_id if self.stored else "",
            "version": lic.version if lic else 0,
            "content_sha256": self.stored.signed.content_sha256 if self.stored else "",
            "policy": list(self.checks),
        }


class SignatureMemo:
    """Versions whose signature this process has verified, keyed by what was verified.

    The key includes the hash of the content as read now, so a row edited in the database
    misses the memo and fails verification; the memo lives in process memory, out of reach of
    anyone who can only edit the database.
    """

    def __init__(self, size: int = SIGNATURE_MEMO_SIZE) -> None:
        self._size = size
        self._seen: OrderedDict[tuple[str, bytes, bytes], bool] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, digest: str, public: PublicKey, content: bytes, signature: bytes) -> bool:
        key = (digest, public.public_key, signature)
        with self._lock:
            if key in self._seen:
                return self._seen[key]
        ok = public.verify(content, signature)
        with self._lock:
            self._seen[key] = ok
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
        return ok


def _write_receipts(conn: Connection, items: Sequence[tuple[Receipt, list[AccessRow]]]) -> None:
    """One transaction for a group of receipts and the access records they imply."""
    receipts = [receipt for receipt, _ in items]
    repo.insert_receipts(conn, receipts)
    entries = [receipt_entry(r) for r in receipts]
    access = stage_rows(conn, [r for _, rows in items for r in rows])  # one entry for them all
    audit_log.append(
        conn, entries if access is None else [*entries, access], receipts[-1].issued_at
    )


def _access_rows(
    caller: Caller, answers: Sequence[Answer | Result], at: datetime, vault: HolderVault
) -> list[AccessRow]:
    """Each verification of a stored licence is a read of its holder's data."""
    rows: list[AccessRow] = []
    code = caller.code
    whats: dict[tuple[Vetted, str, Verdict], str] = {}
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
                    (v.holder_index, code, CHANNEL, item.purpose, item.case_number, what, at)
                )
        elif a.stored is not None:
            lic = a.stored.licence
            what = f"{a.type_name} {lic.licence_number}: {_said(a.decision.verdict)}"
            why = a.why
            rows.append(
                (
                    vault.index(lic.holder),
                    code,
                    CHANNEL,
                    why.get("purpose", ""),
                    why.get("case_number", ""),
                    what,
                    at,
                )
            )
    return rows


def _said(verdict: Verdict) -> str:
    """What an access record says the verification answered."""
    return f"verified, {verdict.value.upper()}"


CHANNEL = "verification"


def _ref_json(ref: LicenceRef) -> dict[str, str]:
    if ref.licence_id:
        return {"licence_id": ref.licence_id}
    return {"type_code": ref.type_code, "licence_number": ref.licence_number}


def _single(answers: Sequence[Answer | Result]) -> tuple[Verdict | None, str, str]:
    """(verdict, licence id, content hash) a receipt of one answer states outside its body."""
    if len(answers) != 1:
        return None, "", ""
    a = answers[0]
    if isinstance(a, Answer):
        v = a.vetted
        return a.decision.verdict, v.licence_id if v else "", v.content_sha256 if v else ""
    stored = a.stored
    return (
        a.decision.verdict,
        stored.signed.licence_id if stored else "",
        stored.signed.content_sha256 if stored else "",
    )


class VerifierService:
    """VerifyLicence, VerifyByHolder, batches, documents, receipts."""

    def __init__(
        self,
        store: LicenceStoreService,
        db: Database,
        sealer: Sealer,
        clock: Clock,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.db = db
        self.clock = clock
        self.receipt_keys = ServiceKeys(db, sealer, "receipt", clock)
        self.qr_keys = ServiceKeys(db, sealer, "qr", clock)
        self.log_keys = ServiceKeys(db, sealer, "log", clock)
        self.memo = SignatureMemo()
        self.fast = BatchVerifier(self)
        # Durable writes of receipts run here while batch streams work on their next chunk
        # (group commit still joins concurrent ones into one transaction).
        self._writers = ThreadPoolExecutor(RECEIPT_WRITERS, thread_name_prefix="receipts")
        self._receipts: GroupCommitter[tuple[Receipt, list[AccessRow]]] = GroupCommitter(
            db, _write_receipts, name="receipts", gather=RECEIPT_GATHER_SECONDS, metrics=metrics
        )

    def close(self) -> None:
        """Flush queued receipts and stop the writers."""
        self._writers.shutdown(wait=True)
        self._receipts.close()

    # ------------------------------------------------------------------------- checking

    def integrity(self, stored: StoredLicence) -> Integrity:
        """Does the stored version still carry a good signature by a key valid at signing?"""
        return self.integrity_with(stored, self.store.public_key(stored.signed.key_id))

    def integrity_with(self, stored: StoredLicence, key: SigningKeyRecord | None) -> Integrity:
        """:meth:`integrity`, with the issuer key record named by the version already read."""
        lic, signed = stored.licence, stored.signed
        content = canonical_json(lic.content(), plain=True)
        digest = sha256_hex(content)
        if digest != signed.content_sha256:
            return Integrity.CONTENT_ALTERED
        if key is None or key.department_code != lic.issuer_code:
            return Integrity.KEY_UNKNOWN
        if key.compromised_for(lic.version_at):
            return Integrity.KEY_COMPROMISED
        if not key.valid_at(lic.version_at):
            return Integrity.KEY_NOT_VALID_AT_SIGNING
        public = PublicKey(key.key_id, key.algorithm, key.public_key)
        ok = self.memo.check(digest, public, content, signed.signature)
        return Integrity.VERIFIED if ok else Integrity.SIGNATURE_INVALID

    def check(
        self, stored: StoredLicence | None, presented: Presented, asked: dict[str, Any]
    ) -> Result:
        """The verdict on ``stored`` (None: not in the store) for what was presented."""
        now = self.clock.now()
        at = presented.as_of or now
        base: dict[str, Any] = {
            "checked_at": now,
            "as_of": at,
            "asked": asked,
            "client_ref": presented.client_ref,
            "why": presented.why,
        }
        if stored is None:
            return Result(
                not_found(),
                HolderMatch.NOT_PRESENTED,
                HolderMatch.NOT_PRESENTED,
                checks=("existence",),
                **base,
            )
        if presented.as_of is not None:
            stored, status = self._as_of(stored, presented.as_of)
            if stored is None:
                return Result(
                    not_found("NOT_ISSUED_AT_THAT_TIME"),
                    HolderMatch.NOT_PRESENTED,
                    HolderMatch.NOT_PRESENTED,
                    checks=("existence",),
                    **base,
                )
        else:
            status = stored.licence.status
        lic = stored.licence
        integrity = self.integrity(stored)
        type_name, issuer_name = self.store.names(lic)
        return Result(
            decision=decide(integrity, status, lic.validity, at),
            number_match=number_match(presented.holder_number, lic.holder),
            name_match=name_match(presented.holder_name, lic.holder_name),
            checks=STANDARD_CHECKS + (("status_timeline",) if presented.as_of else ()),
            stored=stored,
            integrity=integrity,
            type_name=type_name,
            issuer_name=issuer_name,
            **base,
        )

    def _as_of(self, stored: StoredLicence, at: datetime) -> tuple[StoredLicence | None, Status]:
        """The version current at ``at`` and the status then."""
        serial = stored.licence.serial
        timeline = [StatusChange(t, s) for t, s in self.store.status_timeline(serial)]
        status = status_at(timeline, at)
        versions = [v for v in self.store.versions_of(serial) if v.licence.version_at <= at]
        if status is None or not versions:
            return None, Status.ACTIVE
        return versions[-1], status

    # ---------------------------------------------------------------------- use cases

    def verify(self, caller: Caller, asked: Asked) -> Chunk:
        """Verify one licence and record a receipt (a malformed item is the caller's error)."""
        holders = self.fast.holders()
        with self._receipts.coming():  # concurrent verifications share one durable write
            return self.fast.answer(caller, [self.fast.prepare(asked, holders)], holders)

    def verify_by_holder(
        self,
        caller: Caller,
        holder_number: str,
        type_codes: Sequence[str],
        presented_name: str,
        *,
        valid_only: bool = False,
        context: dict[str, str] | None = None,
    ) -> list[Result]:
        """Every licence of the holder of the given types, each with its verdict; one receipt."""
        holder = parse_holder_number(holder_number, "holder_number")
        ctx = context or {}
        presented = Presented(
            holder,
            presented_name,
            purpose=ctx.get("purpose", ""),
            case_number=ctx.get("case_number", ""),
        )
        asked = {
            "holder_number": mask_holder_number(holder.value, holder.kind),
            "type_codes": list(type_codes),
        }
        results = [
            self.check(stored, presented, asked)
            for stored in self.store.holder_licences(holder, type_codes)
        ]
        if valid_only:
            results = [r for r in results if r.decision.verdict is Verdict.VALID]
        if not results:
            results = [self.check(None, presented, asked)]
        return self.record_receipt(caller, results)

    def verify_batch(self, caller: Caller, items: Sequence[Asked]) -> Chunk:
        """A chunk of a batch: one verdict per item, items independent; one receipt.

        The receipt may still be being written: wait for ``Chunk.durable`` before answering.
        """
        return self.fast.verify(caller, items)

    def malformed(self, exc: YihaoError, client_ref: str = "") -> Result:
        """The answer to a batch item that names nothing (its reason says why)."""
        now = self.clock.now()
        if len(client_ref) > MAX_CLIENT_REF:
            client_ref = ""  # refused for its length: not echoed (the answer keeps its place)
        reason = f"INVALID_REFERENCE: {exc}"
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 1] + "…"
        return Result(
            not_found(reason),
            HolderMatch.NOT_PRESENTED,
            HolderMatch.NOT_PRESENTED,
            checked_at=now,
            as_of=now,
            checks=("reference_format",),
            client_ref=client_ref,
            asked={"client_ref": client_ref} if client_ref else {},  # the receipt names it
        )

    @staticmethod
    def presented(holder: HolderNumber | None, asked: Asked) -> Presented:
        """What was presented with a batch item (already validated)."""
        return Presented(
            holder,
            asked.holder_name,
            asked.as_of,
            purpose=asked.purpose,
            case_number=asked.case_number,
            client_ref=asked.client_ref,
        )

    @staticmethod
    def asked(ref: LicenceRef, presented: Presented) -> dict[str, Any]:
        """What was asked, as a receipt records it (person numbers and names masked)."""
        asked: dict[str, Any] = _ref_json(ref)
        if presented.holder_number is not None:
            number = presented.holder_number
            asked["presented_holder_number"] = mask_holder_number(number.value, number.kind)
        if presented.holder_name.strip():
            asked["presented_holder_name"] = mask_name(presented.holder_name.strip())
        if presented.as_of is not None:
            asked["as_of"] = presented.as_of.isoformat()
        if presented.client_ref:
            asked["client_ref"] = presented.client_ref
        return asked

    # ----------------------------------------------------------------------- receipts

    def record_receipt(self, caller: Caller, results: list[Result]) -> list[Result]:
        """Sign one receipt over ``results``, make it durable, and stamp its id on each."""
        texts = [canonical_json(r.answer(), plain=True).decode() for r in results]
        receipt_id = self.seal(caller, self.clock.now(), results, texts)
        return [replace(r, receipt_id=receipt_id) for r in results]

    def seal(
        self,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[str],
    ) -> str:
        """Sign one receipt over ``answers`` (``texts``: each as canonical JSON), make it and
        their access records durable (group commit) and return its id: only then may an
        answer citing it leave."""
        receipt_id, item = self._receipt(caller, at, answers, texts)
        self._receipts.submit(item)
        return receipt_id

    def seal_later(
        self,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[str],
    ) -> tuple[str, Future[None]]:
        """:meth:`seal`, the durable write left running in another thread: no answer citing
        the receipt may leave before the returned future is done (and did not fail)."""
        receipt_id, item = self._receipt(caller, at, answers, texts)
        return receipt_id, self._writers.submit(self._receipts.submit, item)

    def _receipt(
        self,
        caller: Caller,
        at: datetime,
        answers: Sequence[Answer | Result],
        texts: list[str],
    ) -> tuple[str, tuple[Receipt, list[AccessRow]]]:
        """A signed receipt over ``answers`` and the access records they imply."""
        receipt_id = new_receipt_id(at)
        body = receipt_body_of(receipt_id, at, caller.code, texts)
        key = self.receipt_keys.signing_key()
        verdict, licence_id, content_sha256 = _single(answers)
        # A generator: with metrics off it is never run.
        self.metrics.verdicts((a.decision.verdict.value, a.decision.reason) for a in answers)
        receipt = Receipt(
            receipt_id=receipt_id,
            issued_at=at,
            requester_code=caller.code,
            verdict=verdict,
            licence_id=licence_id,
            content_sha256=content_sha256,
            body=body,
            key_id=key.key_id,
            algorithm=key.algorithm,
            signature=key.sign(body),
        )
        return receipt_id, (receipt, _access_rows(caller, answers, at, self.store.vault))

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

    def check_receipt(self, receipt: Receipt) -> tuple[bool, str]:
        """Whether a receipt's body still carries the verifier's signature."""
        key = self.receipt_keys.public(receipt.key_id)
        if key is None:
            return False, "RECEIPT_KEY_UNKNOWN"
        public = PublicKey(key.key_id, key.algorithm, key.public_key)
        if not public.verify(receipt.body, receipt.signature):
            return False, "SIGNATURE_INVALID"
        return True, "SIGNATURE_VERIFIED"
