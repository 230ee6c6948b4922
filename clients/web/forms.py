"""What every form of the desk needs: an idempotency key per rendered form, and the services'
field violations turned into errors shown next to each field.

* **Acting once.** A form that changes something carries a hidden ``idempotency_key`` made when
  the form is rendered (:func:`form_key`; in templates ``{{ form_key() }}``). The view passes it
  unchanged to the mutating call, so a double click, a reload that re-posts or a retry after a
  lost answer acts once: the services answer the same request again with the first result.
* **Errors by field.** :func:`field_errors` maps an :class:`InvalidArgument`'s violations
  (``holder.number: unified social credit code check character ...``) onto the form's field
  names, so each message is shown beside its field; violations of fields the form does not
  show are returned under ``""`` for the page's error area.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from yihao_shared.errors import InvalidArgument

__all__ = ["IDEMPOTENCY_FIELD", "field_errors", "form_key", "read_form_key"]

#: The hidden field a mutating form carries.
IDEMPOTENCY_FIELD = "idempotency_key"
_KEY = re.compile(r"^[0-9a-f]{32}$")


def form_key() -> str:
    """A fresh idempotency key for a form being rendered (32 hex characters)."""
    return uuid.uuid4().hex


def read_form_key(value: object) -> str | None:
    """The key a posted form carried, when it is one this desk made; else None (the view then
    refuses the post: a form without its key could act twice)."""
    return value if isinstance(value, str) and _KEY.match(value) else None


def field_errors(
    error: InvalidArgument, fields: Mapping[str, str] | None = None
) -> dict[str, list[str]]:
    """Violation descriptions by form field. ``fields`` maps the services' field paths
    (``holder.number``, ``fields.registered_capital``) to form field names; a path not in it is
    used as is when the form has such a field name, else collected under ``""``."""
    fields = fields or {}
    known = set(fields.values())
    found: dict[str, list[str]] = {}
    for violation in error.violations:
        name = fields.get(violation.field, violation.field)
        if fields and name not in known:
            name = ""
        found.setdefault(name, []).append(violation.description)
    if not error.violations:
        found[""] = [error.message]
    return found
