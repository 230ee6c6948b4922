"""Acting once per submitted form: the desk's one mechanism, claimed in its database.

Every form that acts carries a fresh key made when it is rendered (:func:`form_key`; the
hidden field :data:`IDEMPOTENCY_FIELD`, in templates ``{{ form_key() }}``). Before acting, the
view claims the key in the desk's database (table ``web_once``): the claim is a primary-key
insert, so of two submissions racing each other — a double click, a reload that re-posts, a
second tab, or two desk processes sharing a database — exactly one wins, and a desk restart
forgets nothing.

* :func:`run` — the winner acts and its outcome (text, e.g. the services' answer serialised)
  is kept beside the key; a later submission of the same form gets that outcome back
  (``replayed``) instead of acting again, and one arriving while the first is still running
  waits for it. An act that fails releases the key, so the form may be sent again.
* :func:`run_message` — the same for an act answering with a protobuf message (the counter's
  verifications: the same receipt is shown again, none is made twice).
* :func:`claim` / :func:`release` — the primitives, for a view that decides itself what a
  second submission sees (urging, 催办: a resend after an unclear failure must not repeat it).

For acts whose RPC takes a request id (the licence store's lifecycle calls) the view also
passes the key on as that id, so the services recognise a retry too: acting once end to end.
Keys are remembered for a day (:data:`KEEP_SECONDS`).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from clients.web.db import ONCE
from yihao_shared.errors import DeadlineExceeded, PermissionDenied

__all__ = [
    "IDEMPOTENCY_FIELD",
    "KEEP_SECONDS",
    "claim",
    "form_key",
    "read_form_key",
    "release",
    "run",
    "run_message",
]

M = TypeVar("M", bound=Message)
#: The hidden field a form that acts carries.
IDEMPOTENCY_FIELD = "idempotency_key"
#: How long a claimed key is remembered.
KEEP_SECONDS = 24 * 3600
#: How long a second submission waits for the first one's outcome.
WAIT_SECONDS = 30.0
_KEY = re.compile(r"^[0-9a-f]{32}$")


def form_key() -> str:
    """A fresh key for a form being rendered (32 hex characters)."""
    return uuid.uuid4().hex


def read_form_key(value: object) -> str | None:
    """The key a posted form carried, when it is one this desk makes; else None (the view then
    refuses the post: a form without its key could act twice)."""
    return value if isinstance(value, str) and _KEY.match(value) else None


def claim(engine: Engine, key: str, account_id: str, now: float) -> bool:
    """Claim ``key`` for ``account_id``: True the first time, False if already claimed."""
    with engine.begin() as conn:
        conn.execute(delete(ONCE).where(ONCE.c.at < now - KEEP_SECONDS))
    try:
        with engine.begin() as conn:
            conn.execute(insert(ONCE).values(form_key=key, account_id=account_id, at=now))
    except IntegrityError:
        return False
    return True


def release(engine: Engine, key: str) -> None:
    """Forget ``key`` (its act did not happen), so the form can be sent again."""
    with engine.begin() as conn:
        conn.execute(delete(ONCE).where(ONCE.c.form_key == key))


def _keep(engine: Engine, key: str, outcome: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(ONCE).where(ONCE.c.form_key == key).values(outcome=outcome))


def run(
    engine: Engine,
    key: str,
    account_id: str,
    act: Callable[[], str],
    *,
    clock: Callable[[], float] = time.time,
    wait: float = WAIT_SECONDS,
) -> tuple[str, bool]:
    """(outcome, replayed): act once for ``key``; a later call gets the first outcome.

    A call arriving while the first is running waits up to ``wait`` seconds for it (then
    :class:`DeadlineExceeded`: nothing more was done); if the first failed, it acts itself.
    A key claimed by another account is refused (:class:`PermissionDenied`).
    """
    deadline = time.monotonic() + wait
    while True:
        if claim(engine, key, account_id, clock()):
            try:
                outcome = act()
            except BaseException:
                release(engine, key)
                raise
            _keep(engine, key, outcome)
            return outcome, False
        with engine.connect() as conn:
            row = conn.execute(
                select(ONCE.c.account_id, ONCE.c.outcome).where(ONCE.c.form_key == key)
            ).first()
        if row is not None:
            if row.account_id != account_id:
                raise PermissionDenied("this form was sent by another account")
            if row.outcome is not None:
                return str(row.outcome), True
        if time.monotonic() > deadline:
            raise DeadlineExceeded("the first submission of this form is still being handled")
        if row is not None:
            time.sleep(0.05)  # the first submission is still acting


def run_message(
    engine: Engine,
    key: str,
    account_id: str,
    act: Callable[[], M],
    kind: type[M],
    *,
    clock: Callable[[], float] = time.time,
    wait: float = WAIT_SECONDS,
) -> tuple[M, bool]:
    """:func:`run` for an act answering with a ``kind`` message (kept serialised)."""

    def serialised() -> str:
        return base64.b64encode(act().SerializeToString()).decode("ascii")

    outcome, replayed = run(engine, key, account_id, serialised, clock=clock, wait=wait)
    message = kind()
    message.ParseFromString(base64.b64decode(outcome))
    return message, replayed
