"""Which staff member acts for a department: the ``yihao-staff`` gRPC metadata.

A department's system that serves people (the web desk, a counter system) calls Yihao with
the department's client certificate; the certificate says which department, not which person.
Such a system may name the person too, in the ``yihao-staff`` metadata: an opaque account id
the department chose (1 to 64 characters of ``A-Z a-z 0-9 . _ @ -``). The server records it
beside the department in receipts, access records and licence events — as the department's
assertion ("department X says staff Y acted"), never as an identity the server checked: it
grants nothing and is never used to decide a call.

The rule lives here so the client library refuses a bad id before sending it and the server
refuses it with the same words.
"""

from __future__ import annotations

import re

from yihao_shared.errors import InvalidArgument

__all__ = ["MAX_STAFF", "STAFF_FIELD", "STAFF_METADATA", "STAFF_RULE", "check_staff"]

#: The gRPC metadata key (lower case, as gRPC requires).
STAFF_METADATA = "yihao-staff"
#: How an error names it.
STAFF_FIELD = "metadata yihao-staff"
MAX_STAFF = 64
#: The rule, in words.
STAFF_RULE = f"1 to {MAX_STAFF} characters of A-Z a-z 0-9 . _ @ -"
_STAFF = re.compile(r"[A-Za-z0-9._@-]{1,%d}" % MAX_STAFF)  # noqa: UP031 - a regex brace


def check_staff(value: str) -> str:
    """``value`` if it is a well-formed staff account id, else :class:`InvalidArgument`
    naming ``metadata yihao-staff`` and the rule."""
    if _STAFF.fullmatch(value) is None:
        raise InvalidArgument.field(
            STAFF_FIELD, f"a staff account id is {STAFF_RULE}", "STAFF_ID_FORMAT"
        )
    return value
