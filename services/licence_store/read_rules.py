"""Object-level read rules of the licence store's queries: who sees what of a licence.

A licence's content (holder identity, fields) is for its issuer, for the holder through the
portal, and for departments a catalogue read grant allows, each seeing only the granted
fields with sensitive ones masked unless granted whole; an organisation's licence is public
registration data. Every other department gets verification (the verifier), never the
content: to it the licence is indistinguishable from one that does not exist. The decision
itself is the domain's (:func:`~services.licence_store.domain.grants.content_access`); this
module applies it to answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.identifiers import mask_holder_number, mask_name
from services.common.identity import Caller
from services.common.roles import Role
from services.licence_store.catalogue import CatalogueCache
from services.licence_store.domain.grants import (
    ENVELOPE_FIELDS,
    NOTHING,
    Access,
    content_access,
    watchable_types,
)
from services.licence_store.domain.licence import FieldValue, Licence


@dataclass(frozen=True)
class Shown:
    """What of a licence's content a caller is shown (fields absent are not granted)."""

    holder_number: str
    holder_name: str
    fields: dict[str, FieldValue]


class ReadRules:
    """Applies the catalogue's read grants to one caller's reads."""

    def __init__(self, cache: CatalogueCache) -> None:
        self.cache = cache

    def _portal(self, caller: Caller) -> bool:
        dept = self.cache.department(caller.code)
        return dept is not None and Role.HOLDER_PORTAL in dept.roles

    def access(self, caller: Caller, licence: Licence) -> Access:
        """What ``caller`` may see of ``licence``."""
        lt = self.cache.licence_type(licence.type_code)
        if lt is None:
            return NOTHING
        return content_access(
            caller.code,
            self._portal(caller),
            lt,
            licence.issuer_code,
            self.cache.read_grants(),
        )

    def consented(self, licence: Licence) -> Access:
        """What the holder's consent shows a department of ``licence``: the holder and every
        field, sensitive ones masked (the consent names licences, not unmasked fields)."""
        lt = self.cache.licence_type(licence.type_code)
        names = frozenset(f.name for f in lt.fields) if lt is not None else frozenset()
        return Access(fields=names | frozenset(ENVELOPE_FIELDS))

    def shown(self, licence: Licence, access: Access) -> Shown | None:
        """The part of ``licence`` that ``access`` shows (None: all of it)."""
        if access.whole:
            return None
        lt = self.cache.licence_type(licence.type_code)
        sensitive = lt.sensitive_names if lt is not None else frozenset(licence.fields)
        fields = {
            name: _masked(value) if access.masks(name, name in sensitive) else value
            for name, value in licence.fields.items()
            if access.shows(name)
        }
        number = licence.holder.value if access.shows("holder_number") else ""
        if number and access.masks("holder_number", True):
            number = mask_holder_number(number, licence.holder.kind)
        name = licence.holder_name if access.shows("holder_name") else ""
        return Shown(number, name, fields)

    def watchable(self, caller: Caller) -> frozenset[str]:
        """The licence types whose events ``caller`` may follow."""
        return watchable_types(
            caller.code, self._portal(caller), self.cache.licence_types(), self.cache.read_grants()
        )


def _masked(value: FieldValue) -> FieldValue:
    """A sensitive value as shown to a department not granted it whole."""
    if not isinstance(value, str):
        return "*"
    text = value.strip()
    if len(text) in (15, 18) and text[:-1].isdigit():
        return mask_holder_number(text)
    return mask_name(text)
