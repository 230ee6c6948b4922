"""Verification by reference, many at a time: the path VerifyBatch and VerifyLicence share.

A chunk of items costs one read through the licence reader (status included; on SQLite the
reader answers rows unchanged since it last read them from memory, knowing from the store's
change log which changed: every change committed before the read is seen), one receipt
signed over all its answers, and one durable write of that
receipt with every item's access record (group commit), before any answer leaves. Per item
what is left is cheap: the stored version's integrity comes from the
:mod:`~services.verifier.vetting` memo while the version's fingerprint is unchanged (else it
is checked in full), and the verdict is decided fresh from the status read now and the
validity dates at the instant asked.

Items are independent: an item that cannot be read (a malformed reference or holder number)
is answered NOT_FOUND with its reason, and the others are unaffected. An item asking about a
past instant (``as_of``) takes the full path (status timeline, versions then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from datetime import date, datetime
from json.encoder import encode_basestring
from typing import Any, Final, NamedTuple

from services.common.clock import Clock, china_date
from services.common.errors import InvalidArgument, YihaoError
from services.common.holder_vault import HolderVault
from services.common.identifiers import (
    HolderKind,
    HolderNumber,
    mask_holder_number,
    mask_name,
    parse_holder_number,
    validate_licence_type_code,
)
from services.common.identity import Caller
from services.common.licence_ids import LicenceIdentifier, parse_licence_identifier
from services.common.purpose import why_in
from services.common.ratelimit import RateLimiter
from services.common.signing import canonical_json
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.reading import CurrentLicence
from services.licence_store.reader import LicenceReader
from services.verifier.budget import count_presented
from services.verifier.checking import Checker
from services.verifier.domain.verdict import HolderMatch, attested, decide_on, not_found
from services.verifier.receipts import ReceiptSealer
from services.verifier.results import (
    Answer,
    Asked,
    Result,
    asked_record,
    check_client_ref,
    malformed,
    new_answer,
    new_tuple,
    presented_with,
)
from services.verifier.vetting import Vetted, VettedMemo, name_key

#: json.dumps' escaping, as canonical JSON writes strings (Final: a C static when compiled,
#: not a lookup in the module's globals on every use).
_json_str: Final = encode_basestring
MAX_NAME: Final = 200
MEMO_SIZE: Final = 100_000  # identifiers parsed; receipt text parts
NO_SUCH_LICENCE: Final = not_found()
NO_NAMES: Final = ("", "")


class Prepared(NamedTuple):
    """An item whose reference and presented holder are well-formed."""

    asked: Asked
    ident: LicenceIdentifier | None  # named by licence_id
    number: tuple[str, str] | None  # named by (type code, licence number)
    holder: HolderNumber | None  # presented holder number


class Chunk(NamedTuple):
    """A chunk's answers (fast-path Answers and full-path Results, in item order)."""

    receipt_id: str
    checked_at: datetime
    answers: list[Answer | Result]
    durable: Future[None] | None = None  # the receipt's write, if still under way

    def wait_durable(self) -> None:
        """Return once the receipt is durable (raise if writing it failed)."""
        if self.durable is not None:
            self.durable.result()


class Holders:
    """The presented holder numbers and names of one chunk, each parsed, keyed, masked once
    (and the purposes and case numbers stated, each checked once).

    Lives for one chunk only: presented personal data is not kept beyond the call.
    """

    def __init__(self, vault: HolderVault) -> None:
        self._vault = vault
        self._parsed: dict[str, HolderNumber | YihaoError] = {}
        self._indexes: dict[tuple[str, HolderKind], str] = {}
        self._names: dict[str, str] = {}
        self._masked: dict[str, str] = {}
        self._whys: set[tuple[str, str, bool]] = set()

    def parse(self, raw: str) -> HolderNumber | None:
        """A presented holder number, validated (None when none was presented)."""
        if not raw.strip():
            return None
        parsed = self._parsed.get(raw)
        if parsed is None:
            try:
                parsed = parse_holder_number(raw, "presented_holder_number")
            except YihaoError as exc:
                parsed = exc
            self._parsed[raw] = parsed
        if isinstance(parsed, YihaoError):
            raise parsed
        return parsed

    def check_why(self, purpose: str, case_number: str, required: bool) -> None:
        """An item's purpose and case number checked (:func:`why_in`; INVALID_ARGUMENT if
        not well-formed), once for each pair the chunk states: its items mostly state one."""
        key = (purpose, case_number, required)
        if key not in self._whys:
            why_in(purpose, case_number, required=required)
            self._whys.add(key)

    def number_match(self, holder: HolderNumber | None, vetted: Vetted) -> HolderMatch:
        """Presented number versus the stored one, compared as blind indexes."""
        if holder is None:
            return HolderMatch.NOT_PRESENTED
        kind = vetted.holder_kind
        index = self._indexes.get((holder.value, kind))
        if index is None:
            index = self._vault.index(HolderNumber(kind, holder.value))
            self._indexes[(holder.value, kind)] = index
        return HolderMatch.MATCH if index == vetted.holder_index else HolderMatch.MISMATCH

    def name_match(self, name: str, vetted: Vetted) -> HolderMatch:
        """Presented name versus the stored one, compared as keyed hashes of the folded names."""
        if not name.strip():
            return HolderMatch.NOT_PRESENTED
        key = self._names.get(name)
        if key is None:
            key = self._names[name] = name_key(self._vault, name)
        return HolderMatch.MATCH if key == vetted.holder_name_key else HolderMatch.MISMATCH

    def asked_json(self, a: Answer) -> str:
        """What was asked, as the receipt records it (canonical JSON: keys in order; person
        numbers and names masked)."""
        item = a.item
        parts = [f'"client_ref":{_json_str(item.client_ref)}'] if item.client_ref else []
        if item.by_number:
            parts.append(f'"licence_number":{_json_str(item.licence_number)}')
        else:
            parts.append(f'"licence_id":{_json_str(item.licence_id)}')
        name = item.holder_name.strip()
        if name:
            parts.append(f'"presented_holder_name":{_json_str(mask_name(name))}')
        if a.holder is not None:
            parts.append(f'"presented_holder_number":{_json_str(self._mask(a.holder))}')
        if item.by_number:
            parts.append(f'"type_code":{_json_str(item.type_code)}')
        return "{" + ",".join(parts) + "}"

    def _mask(self, holder: HolderNumber) -> str:
        masked = self._masked.get(holder.value)
        if masked is None:
            masked = mask_holder_number(holder.value, holder.kind)
            self._masked[holder.value] = masked
        return masked


def _names(vetted: Vetted, ident: LicenceIdentifier) -> bool:
    """Whether an identifier (of any version up to the current one) names this licence."""
    return (
        vetted.type_code == ident.type_code
        and vetted.issuer_code == ident.issuer_code
        and ident.version <= vetted.version
    )


class BatchVerifier:
    """The fast path of verification by reference: reads through the licence reader, the
    full path (:class:`~services.verifier.checking.Checker`) for what the memo cannot answer,
    and one receipt per chunk from the sealer."""

    def __init__(
        self,
        reader: LicenceReader,
        vault: HolderVault,
        clock: Clock,
        checker: Checker,
        sealer: ReceiptSealer,
        memo: VettedMemo | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.reader = reader
        self.vault = vault
        self.clock = clock
        self.checker = checker
        self.sealer = sealer
        self.memo = memo or VettedMemo()
        self.limiter = limiter
        self._identifiers: dict[str, LicenceIdentifier | YihaoError] = {}
        self._tails: dict[tuple[Any, ...], bytes] = {}

    def holders(self) -> Holders:
        """A fresh per-chunk holder cache."""
        return Holders(self.vault)

    def prepare(self, asked: Asked, holders: Holders) -> Prepared:
        """Validate an item's reference and presented holder (INVALID_ARGUMENT if malformed)."""
        ident: LicenceIdentifier | None = None
        number: tuple[str, str] | None = None
        if asked.refused is not None:
            raise asked.refused
        if asked.by_number:
            type_code = validate_licence_type_code(
                asked.type_code, "licence.type_and_number.type_code"
            )
            if not asked.licence_number.strip():
                raise InvalidArgument.field(
                    "licence.type_and_number.licence_number", "is required", "REQUIRED"
                )
            number = (type_code, asked.licence_number.strip())
        else:
            ident = self._identifier(asked.licence_id)
        check_client_ref(asked.client_ref)
        holder = holders.parse(asked.holder_number)
        if len(asked.holder_name) > MAX_NAME:
            raise InvalidArgument.field(
                "presented_holder_name", "at most 200 characters", "TOO_LONG"
            )
        if holder is not None and holder.kind is HolderKind.PERSON:
            holders.check_why(asked.purpose, asked.case_number, True)  # a person's number
        elif asked.purpose or asked.case_number:
            holders.check_why(asked.purpose, asked.case_number, False)
        return new_tuple(Prepared, (asked, ident, number, holder))

    def _identifier(self, text: str) -> LicenceIdentifier:
        """A parsed e-licence identifier (parsing, with its check character, is remembered:
        an identifier names no one, and a batch names the same ones again and again)."""
        parsed = self._identifiers.get(text)
        if parsed is None:
            try:
                parsed = parse_licence_identifier(text, "licence.licence_id")
            except YihaoError as exc:
                parsed = exc
            if len(self._identifiers) >= MEMO_SIZE:
                self._identifiers.clear()
            self._identifiers[text] = parsed
        if isinstance(parsed, YihaoError):
            raise parsed
        return parsed

    def verify(
        self,
        caller: Caller,
        items: Sequence[Asked],
        answered: Mapping[int, Result] | None = None,
    ) -> Chunk:
        """A chunk of a batch: one answer per item, a malformed item answered on its own; the
        receipt's durable write left under way (:meth:`Chunk.wait_durable`). Every item that
        presents a holder number or name is a question charged to the department's limits.
        ``answered``: items answered elsewhere (another region), sealed with the others."""
        self.charge(caller, items)
        holders = self.holders()
        prepared: list[Prepared | Result] = []
        for i, asked in enumerate(items):
            if answered and i in answered:
                prepared.append(answered[i])
                continue
            try:
                prepared.append(self.prepare(asked, holders))
            except YihaoError as exc:
                prepared.append(malformed(exc, self.clock.now(), asked.client_ref))
        return self.answer(caller, prepared, holders, wait=False)

    def charge(self, caller: Caller, items: Sequence[Asked]) -> None:
        """Charge each holder-match question to the department (RESOURCE_EXHAUSTED if over)."""
        if self.limiter is not None:
            asked = count_presented([(a.holder_number, a.holder_name) for a in items])
            self.limiter.charge(caller.code, "holder_match", asked)

    def answer(
        self,
        caller: Caller,
        items: Sequence[Prepared | Result],
        holders: Holders,
        *,
        wait: bool = True,
    ) -> Chunk:
        """Answer prepared items (Results pass through), seal one receipt over all of them
        (durable on return if ``wait``, else see :meth:`Chunk.wait_durable`)."""
        now = self.clock.now()
        fast = [p for p in items if isinstance(p, Prepared) and p.asked.as_of is None]
        reads = self.reader.read_current(
            {p.ident.serial for p in fast if p.ident is not None},
            {p.number for p in fast if p.number is not None},
        )
        current = reads.licences
        vetted = self._vet(current)
        decide = _Decider(self, current, vetted, reads.serials_by_number, china_date(now), holders)
        answers: list[Answer | Result] = [
            p if not isinstance(p, Prepared) else self._full(p) if p.asked.as_of else decide(p)
            for p in items
        ]
        if self.sealer.guard is not None:
            answers = self.sealer.guard.apply(caller.code, answers)
        texts = self.answer_texts(answers, now, holders)
        if wait:
            return Chunk(self.sealer.seal(caller, now, answers, texts), now, answers)
        receipt_id, durable = self.sealer.seal_later(caller, now, answers, texts)
        return Chunk(receipt_id, now, answers, durable)

    def answer_each(
        self, items: Sequence[tuple[Caller, Prepared, Holders]]
    ) -> list[Chunk | BaseException]:
        """Several callers' single fast-path items at once (one read, one durable write),
        each answered under its own receipt; an item's own error is its answer alone."""
        now = self.clock.now()
        reads = self.reader.read_current(
            {p.ident.serial for _, p, _ in items if p.ident is not None},
            {p.number for _, p, _ in items if p.number is not None},
        )
        current = reads.licences
        vetted = self._vet(current)
        day = china_date(now)
        out: list[Chunk | BaseException] = []
        sealed: list[Any] = []
        written: list[int] = []
        for caller, p, holders in items:
            try:
                decide = _Decider(self, current, vetted, reads.serials_by_number, day, holders)
                answers: list[Answer | Result] = [decide(p)]
                if self.sealer.guard is not None:
                    answers = self.sealer.guard.apply(caller.code, answers)
                texts = self.answer_texts(answers, now, holders)
                receipt_id, item = self.sealer.signed(caller, now, answers, texts)
            except YihaoError as exc:
                out.append(exc)
                continue
            written.append(len(out))
            sealed.append(item)
            out.append(Chunk(receipt_id, now, answers))
        try:
            self.sealer.write_all(sealed)
        except YihaoError as exc:
            for i in written:
                out[i] = exc
        return out

    def answer_texts(
        self, answers: Sequence[Answer | Result], at: datetime, holders: Holders
    ) -> list[bytes]:
        """Each answer as the receipt records it (canonical JSON in UTF-8, the shape of
        ``Result.answer``), made from parts: what the item asked, then a tail shared by every
        answer with the same licence version and outcome. Bytes, not text: the receipt's body
        joins them (see :func:`receipt_body_of`)."""
        head = f'{{"as_of":{_json_str(at.isoformat())},"asked":'.encode()
        texts = []
        for a in answers:
            if isinstance(a, Answer):
                texts.append(head + holders.asked_json(a).encode() + self._tail(a))
            else:
                texts.append(canonical_json(a.answer(), plain=True))
        return texts

    def _tail(self, a: Answer) -> bytes:
        d = a.decision
        key = (a.vetted, d.verdict, d.reason, a.number_match, a.name_match)  # refusal: matches
        tail = self._tails.get(key)
        if tail is None:
            v = a.vetted
            tail = (
                f',"content_sha256":{_json_str(v.content_sha256 if v else "")}'
                f',"holder_name_match":"{a.name_match.value}"'
                f',"holder_number_match":"{a.number_match.value}"'
                f',"licence_id":{_json_str(v.licence_id if v else "")}'
                f',"policy":{canonical_json(list(a.checks), plain=True).decode()}'
                f',"reason":{_json_str(d.reason)},"verdict":"{d.verdict.value}"'
                f',"version":{v.version if v else 0}}}'
            ).encode()
            if len(self._tails) >= MEMO_SIZE:
                self._tails.clear()
            self._tails[key] = tail
        return tail

    def _full(self, p: Prepared) -> Result:
        """An as-of item, on the full path (status timeline and the version current then)."""
        a = p.asked
        presented = presented_with(p.holder, a)
        ref = a.ref
        return self.checker.check(self.reader.find(ref), presented, asked_record(ref, presented))

    def _vet(self, current: dict[str, CurrentLicence]) -> dict[str, Vetted]:
        """The memo's entry for each licence, checked in full again where it no longer holds."""
        keys: dict[str, SigningKeyRecord | None] = {}
        out: dict[str, Vetted] = {}
        for serial, now in current.items():
            key_id = now.key_id
            if key_id in keys:
                key = keys[key_id]
            else:
                key = keys[key_id] = self.reader.public_key(key_id)
            entry = self.memo.get(serial)
            if entry is None or not entry.still_holds(now.fingerprint, key):
                stored = self.reader.open(now)
                integrity = self.checker.integrity_with(stored, key)
                entry = Vetted.of(now.fingerprint, stored, key, integrity, self.vault)
                self.memo.put(serial, entry)
            out[serial] = entry
        return out


class _Decider:
    """Decides one chunk's fast-path items (state shared across the chunk)."""

    def __init__(
        self,
        verifier: BatchVerifier,
        current: dict[str, CurrentLicence],
        vetted: dict[str, Vetted],
        resolved: dict[tuple[str, str], str],
        day: date,
        holders: Holders,
    ) -> None:
        self.reader = verifier.reader
        self.current = current
        self.vetted = vetted
        self.resolved = resolved
        self.day = day
        self.holders = holders
        self._names: dict[tuple[str, str], tuple[str, str]] = {}

    def __call__(self, p: Prepared) -> Answer:
        serial = p.ident.serial if p.ident is not None else self.resolved.get(p.number or ("", ""))
        vetted = self.vetted.get(serial) if serial else None
        if serial is None or vetted is None or (p.ident and not _names(vetted, p.ident)):
            return new_answer(
                p.asked,
                p.holder,
                NO_SUCH_LICENCE,
                HolderMatch.NOT_PRESENTED,
                HolderMatch.NOT_PRESENTED,
                None,
                "",
                NO_NAMES,
            )
        now = self.current[serial]
        return new_answer(
            p.asked,
            p.holder,
            attested(
                decide_on(vetted.integrity, now.status, vetted.validity, self.day),
                now.status_refusal,
            ),
            self.holders.number_match(p.holder, vetted),
            self.holders.name_match(p.asked.holder_name, vetted),
            vetted,
            now.status_reason_code,
            self._catalogue_names(vetted),
        )

    def _catalogue_names(self, vetted: Vetted) -> tuple[str, str]:
        key = (vetted.type_code, vetted.issuer_code)
        names = self._names.get(key)
        if names is None:
            names = self._names[key] = self.reader.names(vetted.type_code, vetted.issuer_code)
        return names
