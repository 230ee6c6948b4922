"""The catalogue of assistance items (行政协助事项清单) and the rules a request must meet.

Each item states its conditions, content, procedure, method, responsibility and time limit,
as the reform documents require, and the only grounds on which the provider may refuse.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.common.errors import FieldViolation, InvalidArgument, PermissionDenied
from services.common.identifiers import validate_department_code, validate_licence_type_code
from services.licence_store.domain.catalogue import check_text
from yihao_shared.vocabulary import REFUSAL_GROUNDS as REFUSAL_GROUNDS


class Procedure(enum.Enum):
    """How an item is answered."""

    AUTOMATIC = "automatic"  # at once, from the licence store
    MANUAL = "manual"  # by the provider's staff


#: Facts of a licence an item may grant besides its data fields.
LICENCE_FACTS = (
    "licence_id",
    "licence_number",
    "holder_name",
    "valid_from",
    "valid_until",
    "status",
)

CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{2,31}")
FIELD = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_TIME_LIMIT = 60
#: Maximum lengths of an item's texts (characters) and counts of its lists: one entry can
#: never outgrow a list answer (docs: the catalogue's maximums).
MAX_NAME = 200
MAX_SHORT_TEXT = 100  # method, responsible_office
MAX_ATTESTATION = 200
MAX_PURPOSE = 200
MAX_PURPOSES = 20
MAX_ITEM_FIELDS = 100
MAX_REQUESTERS = 500


@dataclass(frozen=True)
class AssistanceItem:
    """One published assistance item."""

    code: str
    name: str
    provider_code: str
    fields: tuple[str, ...]
    requester_codes: frozenset[str]
    procedure: Procedure
    time_limit_working_days: int
    refusal_grounds: tuple[str, ...]
    licence_type_code: str = ""
    attestation: str = ""
    unmasked_fields: tuple[str, ...] = ()
    legal_basis_required: bool = True
    allowed_purposes: tuple[str, ...] = ()
    method: str = ""
    responsible_office: str = ""
    consent_required: bool = False  # a request needs the holder's consent (a grant)

    def may_request(self, department_code: str) -> bool:
        """Whether the catalogue grants this item to ``department_code``."""
        return department_code in self.requester_codes

    def check_request(
        self, requester_code: str, purpose: str, legal_basis: str, requested: Sequence[str]
    ) -> tuple[str, ...]:
        """Refuse a request the item does not allow; the fields to answer with."""
        if not self.may_request(requester_code):
            raise PermissionDenied(
                f"department {requester_code} is not granted assistance item {self.code}",
                reason="ITEM_NOT_GRANTED",
            )
        violations = list(self._condition_violations(purpose, legal_basis))
        outside = [f for f in requested if f not in self.fields]
        if outside:
            violations.append(
                FieldViolation(
                    "requested_fields",
                    f"{', '.join(outside)} not provided by item {self.code} "
                    f"(it provides {', '.join(self.fields)})",
                    "FIELDS_NOT_GRANTED",
                )
            )
        if violations:
            raise InvalidArgument(violations=violations)
        return tuple(requested) or self.fields

    def _condition_violations(self, purpose: str, legal_basis: str) -> Iterable[FieldViolation]:
        if not purpose.strip():
            yield FieldViolation("purpose", "is required: state why the data is needed", "REQUIRED")
        elif self.allowed_purposes and purpose.strip() not in self.allowed_purposes:
            yield FieldViolation(
                "purpose",
                f"item {self.code} may be used only for: {'; '.join(self.allowed_purposes)}",
                "PURPOSE_NOT_ALLOWED",
            )
        if self.legal_basis_required and not legal_basis.strip():
            yield FieldViolation(
                "legal_basis", f"item {self.code} requires the legal basis", "REQUIRED"
            )

    def check_refusal(self, ground: str) -> str:
        """A ground this item lists, or INVALID_ARGUMENT naming the ones it does."""
        ground = ground.strip().upper()
        if ground not in self.refusal_grounds:
            raise InvalidArgument.field(
                "ground",
                f"{ground or '(empty)'} is not a refusal ground of item {self.code}; "
                f"it lists {', '.join(self.refusal_grounds) or 'none'}",
                "GROUND_NOT_LISTED",
            )
        return ground

    @classmethod
    def create(cls, **values: object) -> AssistanceItem:
        """Validate an item as an administrator registers it."""
        item = cls(**values)  # type: ignore[arg-type]
        violations = list(item._violations())
        if violations:
            raise InvalidArgument(violations=violations)
        return item

    def _violations(self) -> Iterable[FieldViolation]:
        p = "item"
        if not CODE.fullmatch(self.code):
            yield FieldViolation(f"{p}.code", "3-32 of A-Z 0-9 -", "FORMAT")
        yield from _try(lambda: check_text(self.name, f"{p}.name", MAX_NAME))
        yield from _try(lambda: validate_department_code(self.provider_code, f"{p}.provider_code"))
        yield from self._text_violations(p)
        if len(self.requester_codes) > MAX_REQUESTERS:
            yield FieldViolation(
                f"{p}.requester_codes", f"at most {MAX_REQUESTERS} departments", "TOO_MANY"
            )
            return
        for i, code in enumerate(sorted(self.requester_codes)):
            yield from _try(
                lambda c=code, i=i: validate_department_code(c, f"{p}.requester_codes[{i}]")
            )
        yield from self._content_violations(p)
        if not 1 <= self.time_limit_working_days <= MAX_TIME_LIMIT:
            yield FieldViolation(
                f"{p}.time_limit_working_days",
                f"1 to {MAX_TIME_LIMIT} working days",
                "OUT_OF_RANGE",
            )
        if len(set(self.refusal_grounds)) != len(self.refusal_grounds):
            yield FieldViolation(f"{p}.refusal_grounds", "a ground appears twice", "DUPLICATE")
        for g in self.refusal_grounds:
            if g not in REFUSAL_GROUNDS:
                yield FieldViolation(
                    f"{p}.refusal_grounds",
                    f"{g} is not a legitimate ground ({', '.join(REFUSAL_GROUNDS)})",
                    "UNKNOWN_GROUND",
                )

    def _text_violations(self, p: str) -> Iterable[FieldViolation]:
        optional = {
            "method": MAX_SHORT_TEXT,
            "responsible_office": MAX_SHORT_TEXT,
            "attestation": MAX_ATTESTATION,
        }
        for name, limit in optional.items():
            value = getattr(self, name)
            yield from _try(lambda v=value, n=name, m=limit: _optional_text(v, f"{p}.{n}", m))
        if len(self.allowed_purposes) > MAX_PURPOSES:
            yield FieldViolation(
                f"{p}.allowed_purposes", f"at most {MAX_PURPOSES} purposes", "TOO_MANY"
            )
        else:
            for i, purpose in enumerate(self.allowed_purposes):
                yield from _try(
                    lambda v=purpose, i=i: check_text(v, f"{p}.allowed_purposes[{i}]", MAX_PURPOSE)
                )
        for name in ("fields", "unmasked_fields"):
            if len(getattr(self, name)) > MAX_ITEM_FIELDS:
                yield FieldViolation(f"{p}.{name}", f"at most {MAX_ITEM_FIELDS} fields", "TOO_MANY")

    def _content_violations(self, p: str) -> Iterable[FieldViolation]:
        if bool(self.licence_type_code) == bool(self.attestation):
            yield FieldViolation(
                f"{p}.licence_type_code",
                "an item provides either licence data (licence_type_code) or an attestation",
                "CONTENT",
            )
        if self.licence_type_code:
            yield from _try(
                lambda: validate_licence_type_code(self.licence_type_code, f"{p}.licence_type_code")
            )
        if self.procedure is Procedure.AUTOMATIC and not self.licence_type_code:
            yield FieldViolation(
                f"{p}.procedure", "only licence data can be answered automatically", "PROCEDURE"
            )
        if not self.fields:
            yield FieldViolation(f"{p}.fields", "name at least one field", "REQUIRED")
        for f in self.fields:
            if not FIELD.fullmatch(f):
                yield FieldViolation(f"{p}.fields", f"{f!r} is not a field name", "FIELD_NAME")
        extra = [f for f in self.unmasked_fields if f not in self.fields]
        if extra:
            yield FieldViolation(
                f"{p}.unmasked_fields", f"{', '.join(extra)} not among the item's fields", "SUBSET"
            )


def _optional_text(value: str, field_name: str, max_length: int) -> None:
    check_text(value, field_name, max_length, required=False)


def _try(check: object) -> Iterable[FieldViolation]:
    try:
        check()  # type: ignore[operator]
    except InvalidArgument as exc:
        yield from exc.violations
