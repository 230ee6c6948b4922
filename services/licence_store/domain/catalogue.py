"""The catalogue: departments, their roles and signing keys, and licence types with their schema.

Plain Python: no grpc, no SQL. Constructors validate and raise
:class:`~services.common.errors.InvalidArgument` naming every offending field.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.common.dates import parse_date
from services.common.errors import FieldViolation, InvalidArgument
from services.common.identifiers import (
    HolderKind,
    validate_department_code,
    validate_licence_type_code,
)
from services.common.roles import Role

__all__ = [
    "Department",
    "FieldSpec",
    "FieldType",
    "LicenceType",
    "Role",
    "SigningKeyRecord",
    "parse_date",
]

FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
REGION = re.compile(r"[0-9]{6}")
MAX_SAFE_INTEGER = 2**53 - 1  # RFC 8785 (I-JSON) numbers must be exact doubles
DEFAULT_MAX_LENGTH = 512
MAX_FIELDS = 64
MAX_NAME_LENGTH = 100
MAX_ISSUERS = 500
MAX_VALIDITY_DAYS = 36_500


class FieldType(enum.Enum):
    """The type of one field of a licence type's schema."""

    STRING = "string"
    DATE = "date"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"


def check_text(
    value: str,
    field_name: str,
    max_length: int,
    *,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """Strip ``value`` and check it is present (if required), short enough and printable.

    Only ``multiline`` text (licence data such as 经营范围) may hold line breaks and tabs.
    """
    value = value.strip()
    if required and not value:
        raise InvalidArgument.field(field_name, "is required", "REQUIRED")
    if len(value) > max_length:
        raise InvalidArgument.field(
            field_name, f"is {len(value)} characters long, at most {max_length}", "TOO_LONG"
        )
    # isprintable() is False for every forbidden category (and for some allowed ones, such
    # as line breaks and ideographic spaces): only then is each character looked at.
    bad = (
        None
        if value.isprintable()
        else next((c for c in value if _is_forbidden(c, multiline)), None)
    )
    if bad is not None:
        raise InvalidArgument.field(
            field_name,
            f"contains the control or unassigned character U+{ord(bad):04X}",
            "CHARACTER_SET",
        )
    return value


def _is_forbidden(char: str, multiline: bool) -> bool:
    # Line breaks and tabs are ordinary in long text (经营范围); other control characters,
    # surrogates, private-use and unassigned code points are not text anyone can read back.
    if multiline and char in "\n\t":
        return False
    return unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a licence type: its machine name, printed label, type and rules."""

    name: str
    label: str
    type: FieldType
    required: bool = False
    sensitive: bool = False
    max_length: int = DEFAULT_MAX_LENGTH

    def normalise(self, raw: str, path: str) -> str | int | bool:
        """Turn the text form of a value into its typed JSON form, or say why it is wrong."""
        if self.type is FieldType.STRING:
            return check_text(raw, path, self.max_length, multiline=True)
        raw = raw.strip()
        if self.type is FieldType.DATE:
            return parse_date(raw, path).isoformat()
        if self.type is FieldType.INTEGER:
            return _parse_integer(raw, path)
        if self.type is FieldType.DECIMAL:
            return _parse_decimal(raw, path)
        return _parse_boolean(raw, path)


def _parse_integer(raw: str, path: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,16}", raw):
        raise InvalidArgument.field(path, f"{raw!r} is not a whole number", "INTEGER_FORMAT")
    value = int(raw)
    if abs(value) > MAX_SAFE_INTEGER:
        raise InvalidArgument.field(
            path,
            f"{raw} is beyond ±{MAX_SAFE_INTEGER}, the largest exact JSON integer",
            "OUT_OF_RANGE",
        )
    return value


def _parse_decimal(raw: str, path: str) -> str:
    if not re.fullmatch(r"-?[0-9]{1,20}(\.[0-9]{1,10})?", raw):
        raise InvalidArgument.field(
            path, f"{raw!r} is not a plain decimal number such as 1000.50", "DECIMAL_FORMAT"
        )
    value = Decimal(raw)
    return format(abs(value) if value == 0 else value, "f")  # plain notation, never 1E-7


def _parse_boolean(raw: str, path: str) -> bool:
    lowered = raw.lower()
    if lowered not in ("true", "false"):
        raise InvalidArgument.field(path, f"{raw!r} is not true or false", "BOOLEAN_FORMAT")
    return lowered == "true"


@dataclass(frozen=True)
class LicenceType:
    """A kind of licence (证照类型) in the catalogue, with the schema its data must follow."""

    type_code: str
    name: str
    holder_kind: HolderKind
    fields: tuple[FieldSpec, ...]
    default_validity_days: int = 0
    issuer_codes: frozenset[str] = frozenset()
    consent_required: bool = False  # reads by holder number need the holder's consent

    @property
    def definer_code(self) -> str:
        """Credit code of the department that defines the type (the first 18 characters)."""
        return self.type_code[:18]

    def field_spec(self, name: str) -> FieldSpec | None:
        """The spec of field ``name``, or None when the schema has no such field."""
        return self._specs_by_name.get(name)

    @functools.cached_property
    def _specs_by_name(self) -> dict[str, FieldSpec]:
        return {f.name: f for f in self.fields}

    @functools.cached_property
    def sensitive_names(self) -> frozenset[str]:
        """The names of the fields whose values are sealed at rest."""
        return frozenset(f.name for f in self.fields if f.sensitive)

    def may_issue(self, department_code: str) -> bool:
        """Whether ``department_code`` is registered to issue this type."""
        return department_code in self.issuer_codes

    def validate_data(
        self, values: Mapping[str, str], *, prefix: str = "fields", partial: bool = False
    ) -> dict[str, str | int | bool]:
        """Check licence data against the schema; every problem is reported at once.

        With ``partial`` (a change), missing required fields are not an error and an empty
        value means "remove" (refused for required fields).
        """
        violations: list[FieldViolation] = []
        data: dict[str, str | int | bool] = {}
        for name, raw in values.items():
            spec = self.field_spec(name)
            path = f"{prefix}.{name}"
            if spec is None:
                known = ", ".join(f.name for f in self.fields)
                violations.append(
                    FieldViolation(
                        path, f"is not a field of {self.name} ({known})", "UNKNOWN_FIELD"
                    )
                )
                continue
            if raw.strip() == "" and not spec.required:
                if partial:
                    data[name] = ""  # a change: remove the field
                continue  # an issue: a blank optional column is simply absent
            try:
                data[name] = spec.normalise(raw, path)
            except InvalidArgument as exc:
                violations.extend(exc.violations)
        if not partial:
            violations.extend(
                FieldViolation(f"{prefix}.{f.name}", f"is required by {self.name}", "REQUIRED")
                for f in self.fields
                if f.required and f.name not in values
            )
        if violations:
            raise InvalidArgument(violations=violations)
        return data

    @classmethod
    def create(
        cls,
        *,
        type_code: str,
        name: str,
        holder_kind: HolderKind | None,
        fields: Iterable[FieldSpec],
        default_validity_days: int,
        issuer_codes: Iterable[str],
        consent_required: bool = False,
    ) -> LicenceType:
        """Validate a licence type as registered by an administrator."""
        code = validate_licence_type_code(type_code, "licence_type.type_code")
        name = check_text(name, "licence_type.name", MAX_NAME_LENGTH)
        if holder_kind is None:
            raise InvalidArgument.field(
                "licence_type.holder_kind", "must be PERSON or ORGANISATION", "REQUIRED"
            )
        specs = _validate_field_specs(list(fields))
        if not 0 <= default_validity_days <= MAX_VALIDITY_DAYS:
            raise InvalidArgument.field(
                "licence_type.default_validity_days",
                f"must be between 0 and {MAX_VALIDITY_DAYS}",
                "OUT_OF_RANGE",
            )
        codes = list(issuer_codes)
        if len(codes) > MAX_ISSUERS:
            raise InvalidArgument.field(
                "licence_type.issuer_codes", f"at most {MAX_ISSUERS} departments", "TOO_MANY"
            )
        issuers = frozenset(
            validate_department_code(c, f"licence_type.issuer_codes[{i}]")
            for i, c in enumerate(codes)
        )
        if not issuers:
            raise InvalidArgument.field(
                "licence_type.issuer_codes", "at least one issuing department", "REQUIRED"
            )
        return cls(code, name, holder_kind, specs, default_validity_days, issuers, consent_required)


def _validate_field_specs(specs: list[FieldSpec]) -> tuple[FieldSpec, ...]:
    violations: list[FieldViolation] = []
    if len(specs) > MAX_FIELDS:
        violations.append(
            FieldViolation("licence_type.fields", f"at most {MAX_FIELDS} fields", "TOO_MANY")
        )
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        path = f"licence_type.fields[{i}]"
        if not FIELD_NAME.fullmatch(spec.name):
            violations.append(
                FieldViolation(
                    f"{path}.name",
                    f"{spec.name!r} must be lower-case letters, digits and _, starting "
                    "with a letter, at most 64 characters",
                    "FIELD_NAME",
                )
            )
        elif spec.name in seen:
            violations.append(
                FieldViolation(f"{path}.name", f"{spec.name!r} appears twice", "DUPLICATE")
            )
        seen.add(spec.name)
        if not spec.label.strip() or len(spec.label) > MAX_NAME_LENGTH:
            violations.append(
                FieldViolation(f"{path}.label", "is required, at most 100 characters", "LABEL")
            )
        if not 1 <= spec.max_length <= 4096:
            violations.append(
                FieldViolation(f"{path}.max_length", "must be between 1 and 4096", "OUT_OF_RANGE")
            )
    if violations:
        raise InvalidArgument(violations=violations)
    return tuple(specs)


@dataclass(frozen=True)
class SigningKeyRecord:
    """A department's public signing key, the period in which it may sign, and whether (from
    when) it is known to be compromised."""

    key_id: str
    department_code: str
    algorithm: str
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None = None
    compromised_at: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        """Whether a signature made at ``at`` with this key is acceptable."""
        if at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until

    def compromised_for(self, at: datetime) -> bool:
        """Whether a signature claiming to be made at ``at`` can no longer be trusted."""
        return self.compromised_at is not None and at >= self.compromised_at


@dataclass(frozen=True)
class Department:
    """A government department (or other organisation) known to the system."""

    credit_code: str
    name: str
    region: str
    roles: frozenset[Role] = frozenset()
    keys: tuple[SigningKeyRecord, ...] = field(default=())

    def has_role(self, role: Role) -> bool:
        """Whether the department holds ``role``."""
        return role in self.roles

    @classmethod
    def create(
        cls, *, credit_code: str, name: str, region: str, roles: Iterable[Role]
    ) -> Department:
        """Validate a department as registered by an administrator."""
        code = validate_department_code(credit_code, "credit_code")
        name = check_text(name, "name", MAX_NAME_LENGTH)
        region = region.strip()
        if not REGION.fullmatch(region):
            raise InvalidArgument.field(
                "region", f"{region!r} is not a 6-digit GB/T 2260 region code", "REGION"
            )
        return cls(code, name, region, frozenset(roles))
