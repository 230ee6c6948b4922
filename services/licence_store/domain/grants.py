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
