"""Materials exemption (免提交): which required materials valid e-licences already cover.

A service item (办事事项) lists its required materials; each is mapped to a licence type or
marked as not shareable. For an applicant's number, a material is covered when the applicant
holds a licence of that type whose verdict is VALID; the answer cites the receipt of the
verifications it relied on, so the case file needs no copy. With federation, the regions the
lookup policy names for the applicant are asked too (as ``VerifyByHolder`` asks them), and a
material that only a region which could not answer might cover is reported as not checked
rather than as not held. A lookup by an applicant's number counts against the department's
daily budget of lookups that find nothing, as ``VerifyByHolder`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.clock import Clock
from services.common.database import Database
from services.common.errors import InvalidArgument, NotFound, YihaoError
from services.common.identifiers import HolderKind, HolderNumber, parse_holder_number
from services.common.identity import Caller
from services.common.licence_ids import parse_licence_identifier
from services.common.purpose import why_in
from services.licence_store.domain.consent import ConsentPass, Matter
from services.licence_store.reader import ConsentChecker, LicenceReader
from services.verifier.checking import Checker
from services.verifier.domain.verdict import Verdict
from services.verifier.persistence import repository as repo
from services.verifier.receipts import ReceiptSealer
from services.verifier.results import ForwardedResult, Presented, Result

#: How other regions are asked about an applicant's licences of some types (federation).
Elsewhere = Callable[[HolderNumber, Presented, list[str]], Sequence[Result]]


@dataclass(frozen=True)
class Material:
    """One required material: a licence type, or "" when it cannot be shared."""

    name: str
    licence_type_code: str = ""

    @property
    def shareable(self) -> bool:
        return bool(self.licence_type_code)


@dataclass(frozen=True)
class ServiceItem:
    """A service item with its list of required materials (办事指南·申请材料)."""

    code: str
    name: str
    materials: tuple[Material, ...]


@dataclass(frozen=True)
class MaterialOutcome:
    """Whether one material is covered, and why."""

    material: Material
    covered: bool
    reason: str
    result: Result | None = None


#: The purpose a service item implies when none is stated (the access record says it).
SERVICE_ITEM_PURPOSE = "办理事项 "


class Materials:
    """Service items and the materials valid e-licences cover."""

    def __init__(
        self,
        db: Database,
        reader: LicenceReader,
        checker: Checker,
        receipts: ReceiptSealer,
        clock: Clock,
        consent: ConsentChecker,
    ) -> None:
        self.db = db
        self.consent = consent
        self.reader = reader
        self.checker = checker
        self.receipts = receipts
        self.clock = clock

    def save_items(self, items: Sequence[ServiceItem]) -> None:
        """Store (or replace) service items (the demo catalogue loader calls this)."""
        at = self.clock.now()
        with self.db.transaction() as conn:
            for item in items:
                materials = [
                    {"name": m.name, "licence_type_code": m.licence_type_code}
                    for m in item.materials
                ]
                repo.save_service_item(conn, item.code, item.name, materials, at)

    def list_items(self) -> list[ServiceItem]:
        """Every service item."""
        with self.db.read() as conn:
            rows = repo.list_service_items(conn)
        return [_item(r) for r in rows]

    def check_materials(
        self,
        caller: Caller,
        item_code: str,
        applicant_number: str,
        context: dict[str, str],
        elsewhere: Elsewhere | None = None,
    ) -> tuple[ServiceItem, list[MaterialOutcome]]:
        """Material by material: covered by a valid e-licence (with its receipt), or to bring.

        ``elsewhere(applicant, presented, type_codes)``: other regions' answers (federation),
        asked for the shareable types this caller may see; their NOT_FOUND answers ("none
        there") are left out."""
        if not item_code.strip() or len(item_code) > 64:
            raise InvalidArgument.field(
                "item_code", "is required, at most 64 characters", "REQUIRED"
            )
        item = next((i for i in self.list_items() if i.code == item_code.strip()), None)
        if item is None:
            raise NotFound(f"no service item {item_code}", reason="SERVICE_ITEM_NOT_FOUND")
        applicant = parse_holder_number(applicant_number, "applicant_number")
        type_codes = sorted({m.licence_type_code for m in item.materials if m.shareable})
        # The service item implies the purpose (handling it); the case is still the caller's.
        why = why_in(
            context.get("purpose", "") or f"{SERVICE_ITEM_PURPOSE}{item.code} {item.name}"[:200],
            context.get("case_number", ""),
            required=applicant.kind is HolderKind.PERSON,
        )
        self.consent.lookup_allowed(caller.code, applicant)  # after the request's own checks
        matter = Matter(item.code, why.case_number)
        passed = self._consent(caller, applicant, type_codes, matter, context)
        presented = Presented(
            applicant,
            purpose=why.purpose,
            case_number=why.case_number,
            consent_grant_id=passed.grant_id,
        )
        asked = {"applicant": "presented", "item_code": item.code}
        if passed.grant_id:
            asked["consent_grant_id"] = passed.grant_id
        results = [
            self.checker.check(stored, presented, asked)
            for stored in self.reader.holder_licences(applicant, type_codes)
            if passed.admits(stored.licence.type_code, stored.licence.serial)
        ]
        asked_there = [t for t in type_codes if t not in passed.left_out]
        if elsewhere is not None and asked_there:
            results += [
                r
                for r in elsewhere(applicant, presented, asked_there)
                if r.decision.verdict is not Verdict.NOT_FOUND
            ]
        self.consent.looked_up(caller.code, applicant, bool(results))
        results = self.receipts.record(caller, results) if results else []
        self.consent.used(passed, caller.code, "verifier", f"materials for {item.code}")
        return item, [_outcome(m, results, passed) for m in item.materials]

    def _consent(
        self,
        caller: Caller,
        applicant: HolderNumber,
        type_codes: list[str],
        matter: Matter,
        context: dict[str, str],
    ) -> ConsentPass:
        """The item's consent-required materials: checked only under the applicant's grant
        (decided before reading; without one they are answered CONSENT_REQUIRED, the same
        whether or not the applicant holds such a licence)."""
        if not type_codes:
            return ConsentPass()
        return self.consent.authorise(
            caller.code,
            applicant,
            type_codes,
            matter,
            context.get("consent_grant_id", ""),
            channel="verifier",
            strict=False,
        )


def _item(row: Any) -> ServiceItem:
    materials = tuple(Material(m["name"], m.get("licence_type_code", "")) for m in row.materials)
    return ServiceItem(row.code, row.name, materials)


def _outcome(material: Material, results: list[Result], passed: ConsentPass) -> MaterialOutcome:
    if not material.shareable:
        return MaterialOutcome(material, False, "NOT_SHAREABLE: the applicant brings it")
    if material.licence_type_code in passed.left_out:
        return MaterialOutcome(
            material,
            False,
            "CONSENT_REQUIRED: checked only with the applicant's consent, else the applicant "
            "brings it",
        )
    of_type = [r for r in results if _type_of(r) == material.licence_type_code]
    valid = next((r for r in of_type if r.decision.verdict is Verdict.VALID), None)
    if valid is not None:
        return MaterialOutcome(material, True, "COVERED_BY_VALID_E_LICENCE", valid)
    if of_type:
        verdicts = ", ".join(sorted({r.decision.verdict.value.upper() for r in of_type}))
        return MaterialOutcome(
            material, False, f"NO_VALID_E_LICENCE: held but {verdicts}", of_type[0]
        )
    unasked = [r for r in results if isinstance(r, ForwardedResult) and not _type_of(r)]
    if unasked:  # a region that could not answer may hold one
        regions = ", ".join(sorted({f"{r.region} ({r.decision.reason})" for r in unasked}))
        return MaterialOutcome(
            material,
            False,
            f"NOT_CHECKED: region {regions} could not be asked; the applicant brings it, or "
            "check again later",
            unasked[0],
        )
    return MaterialOutcome(material, False, "NO_E_LICENCE: the applicant holds none of this type")


def _type_of(result: Result) -> str:
    """The licence type a result is about ("" if none: nothing found, or a region's refusal
    or silence)."""
    if result.stored is not None:
        return result.stored.licence.type_code
    if isinstance(result, ForwardedResult) and result.licence_id:
        try:
            return parse_licence_identifier(result.licence_id).type_code
        except YihaoError:
            return ""
    return ""
