"""Answering an automatic request from the licence store: which of the holder's licences
answers, and its values as an answer states them (plain values of the store's domain). A
licence whose signed status the reader could not vouch for (``status_refusal``) is never
the valid one, and its status reads "cannot_check"."""

from __future__ import annotations

from datetime import datetime

from services.licence_store.domain.effective import Effective
from services.licence_store.domain.stored import StoredLicence


def best_licence(licences: list[StoredLicence], at: datetime) -> StoredLicence | None:
    """The licence to answer from: a valid one if any, else the most recently issued."""
    if not licences:
        return None
    valid = [s for s in licences if answered_status(s, at) == Effective.VALID.value]
    pool = valid or licences
    return max(pool, key=lambda s: s.licence.issued_at)


def licence_values(stored: StoredLicence) -> dict[str, str]:
    """A licence's fields and facts as an answer gives them: text, booleans as true/false."""
    lic = stored.licence
    values = {
        k: ("true" if v is True else "false" if v is False else str(v))
        for k, v in lic.fields.items()
    }
    values.update(
        licence_id=stored.signed.licence_id,
        licence_number=lic.licence_number,
        holder_name=lic.holder_name,
        valid_from=lic.validity.valid_from.isoformat(),
        valid_until=lic.validity.valid_until.isoformat() if lic.validity.valid_until else "",
        status=lic.status.value if not stored.status_refusal else CANNOT_CHECK,
    )
    return values


#: What an answer says of a licence whose signed status could not be vouched for.
CANNOT_CHECK = "cannot_check"


def answered_status(stored: StoredLicence, at: datetime) -> str:
    """A licence's status at ``at`` as an answer may state it: from its verified signed
    status, or "cannot_check" when its status chain does not vouch for the rows (never the
    state the rows claim, never VALID)."""
    if stored.status_refusal:
        return CANNOT_CHECK
    return stored.licence.effective_status(at).value
