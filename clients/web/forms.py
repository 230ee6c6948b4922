"""The services' field violations turned into errors shown next to each field.

(Acting once per submitted form — the key every form carries — is :mod:`clients.web.once`.)

* **Errors by field.** :func:`field_errors` maps an :class:`InvalidArgument`'s violations
  (``holder.number: unified social credit code check character ...``) onto the form's field
  names, so each message is shown beside its field; violations of fields the form does not
  show are returned under ``""`` for the page's error area.
"""

from __future__ import annotations

from collections.abc import Mapping

from yihao_shared.errors import InvalidArgument

__all__ = ["field_errors"]


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
