"""Who is calling: the department named by the client certificate, and nothing else.

The identity interceptor reads the peer certificate from the gRPC auth context (never a
header or a request field), extracts the unified social credit code from its
``urn:uscc:`` subject alternative name, and makes it the :func:`current_caller` for the
duration of the call.

A department's system may also say which of its staff acts, in the ``yihao-staff`` metadata
(:mod:`yihao_shared.staff`): read once here, into :attr:`Caller.staff`, it is recorded beside
the department as the department's assertion and never decides anything.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from services.common.errors import Unauthenticated


@dataclass(frozen=True)
class Caller:
    """The calling department, and the staff member it says is acting (None: it said none);
    for a call forwarded by a peer region (federation), also that region and the SHA-256 of
    the assertion it signed about the department.

    ``staff`` is the department's assertion, recorded with what the call does (receipts,
    access records, licence events); authorisation never looks at it.
    """

    code: str
    staff: str | None = None
    region: str = ""
    assertion_sha256: str = ""


_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar(
    "yihao_caller", default=None
)


def current_caller() -> Caller:
    """The department making the current call (set by the identity interceptor)."""
    caller = _current.get()
    if caller is None:
        raise Unauthenticated("no authenticated caller", reason="NO_CALLER")
    return caller


@contextmanager
def acting_as(caller: Caller) -> Iterator[Caller]:
    """Run a block as ``caller`` (the interceptor, and in-process callers such as loaders)."""
    token = _current.set(caller)
    try:
        yield caller
    finally:
        _current.reset(token)
