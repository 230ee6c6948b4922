"""Read grants: which department may read what of a licence type, and for which purposes.

A read grant is a catalogue entry (department × licence type): the purposes the department
may state when it reads that type's licences (empty: any stated purpose) and the content
fields it may see (empty: none — verification only). A grant whose department is ``*``
constrains every department's purposes for the type (a rule of the type itself).

Plain Python: no grpc, no SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.common.errors import PermissionDenied
from services.common.identifiers import HolderKind
from services.licence_store.domain.catalogue import LicenceType

#: The department code of a rule that applies to every department.
EVERY_DEPARTMENT = "*"
#: The holder's identity, grantable like a data field: the holder number and name.
ENVELOPE_FIELDS = ("holder_number", "holder_name")


@dataclass(frozen=True)
class ReadGrant:
    """What one department (or ``*``: every one) may read of one licence type, and why."""

    department_code: str
    type_code: str
    purposes: tuple[str, ...] = ()  # empty: any stated purpose
    fields: tuple[str, ...] = ()  # content fields granted; empty: verification only
    unmasked_fields: tuple[str, ...] = ()  # sensitive fields granted whole

    def allows_purpose(self, purpose: str) -> bool:
        """Whether ``purpose`` is one this grant allows (any, when it lists none)."""
        return not self.purposes or purpose.strip() in self.purposes


GrantKey = tuple[str, str]  # (department code or "*", type code)


def grants_by_key(grants: Iterable[ReadGrant]) -> dict[GrantKey, ReadGrant]:
    """Grants keyed by (department, type) for lookups."""
    return {(g.department_code, g.type_code): g for g in grants}


def check_purpose(
    grants: Mapping[GrantKey, ReadGrant], department_code: str, type_code: str, purpose: str
) -> None:
    """Raise PERMISSION_DENIED (PURPOSE_NOT_ALLOWED) unless every rule that applies to this
    department and type allows ``purpose``: the type's own (``*``) and the department's."""
    for key in ((EVERY_DEPARTMENT, type_code), (department_code, type_code)):
        grant = grants.get(key)
        if grant is not None and not grant.allows_purpose(purpose):
            raise PermissionDenied(
                f"licence type {type_code} may be read by department {department_code} only "
                f"for: {'; '.join(grant.purposes)}",
                reason="PURPOSE_NOT_ALLOWED",
                metadata={"type_code": type_code},
            )


def purpose_allowed(
    grants: Mapping[GrantKey, ReadGrant], department_code: str, type_code: str, purpose: str
) -> bool:
    """:func:`check_purpose` as a question."""
    try:
        check_purpose(grants, department_code, type_code, purpose)
    except PermissionDenied:
        return False
    return True


# ------------------------------------------------------------------------- content access


@dataclass(frozen=True)
class Access:
    """What a department sees of a licence's content: everything (its issuer, the holder
    through the portal), the granted fields, or nothing (verification only)."""

    whole: bool = False
    fields: frozenset[str] = frozenset()  # data fields and envelope fields (holder_*)
    unmasked: frozenset[str] = frozenset()  # sensitive fields shown whole

    @property
    def any(self) -> bool:
        """Whether any content may be shown (else the licence is "not found" to this caller)."""
        return self.whole or bool(self.fields)

    def shows(self, name: str) -> bool:
        """Whether field ``name`` (or ``holder_number``/``holder_name``) is shown at all."""
        return self.whole or name in self.fields

    def masks(self, name: str, sensitive: bool) -> bool:
        """Whether a shown field is masked: sensitive and not granted whole."""
        return not self.whole and sensitive and name not in self.unmasked


WHOLE = Access(whole=True)
NOTHING = Access()


def content_access(
    caller_code: str,
    holder_portal: bool,
    licence_type: LicenceType,
    issuer_code: str,
    grants: Mapping[GrantKey, ReadGrant],
) -> Access:
    """What ``caller_code`` may see of a licence of ``licence_type`` issued by ``issuer_code``.

    The issuer and the holder portal see it whole; a department with a read grant for the
    type sees the granted fields; an organisation's licence is public registration data, its
    fields and holder shown to any reader (sensitive fields masked unless granted); everyone
    else sees nothing of the content (verification answers verdict and holder match only).
    """
    if caller_code == issuer_code or holder_portal:
        return WHOLE
    grant = grants.get((caller_code, licence_type.type_code))
    if grant is not None and grant.fields:
        return Access(fields=frozenset(grant.fields), unmasked=frozenset(grant.unmasked_fields))
    if licence_type.holder_kind is HolderKind.ORGANISATION:
        names = frozenset(f.name for f in licence_type.fields) | frozenset(ENVELOPE_FIELDS)
        unmasked = frozenset(grant.unmasked_fields) if grant is not None else frozenset()
        return Access(fields=names, unmasked=unmasked)
    return NOTHING


def watchable_types(
    caller_code: str,
    holder_portal: bool,
    types: Iterable[LicenceType],
    grants: Mapping[GrantKey, ReadGrant],
) -> frozenset[str]:
    """The licence types whose events ``caller_code`` may follow: those it could read."""
    return frozenset(
        lt.type_code
        for lt in types
        if holder_portal
        or lt.may_issue(caller_code)
        or content_access(caller_code, False, lt, "", grants).any
    )
