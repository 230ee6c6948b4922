"""A form that acts once, claimed in the desk's database: for acts the services cannot
recognise a second time and that must not repeat even after a desk restart or on another desk
process (urging, 催办: ``Urge`` has no idempotency key and records every call). The form
carries a fresh key (:func:`clients.web.once.form_key`); unlike
:class:`clients.web.once.OnceStore` (in memory, replaying the first result) the claim is a
row. The view claims the key (:func:`claim`) before calling the services: the first
submission claims it and acts; a second one (a double click, a reload that re-posts, a
second tab) finds it claimed and does not act again. The claim is a primary-key insert, so
two submissions racing each other get one winner even across desk processes sharing a
database. If the act fails before reaching the services, the view releases the key
(:func:`release`) so the person can try again. Keys are kept for a day.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from clients.web.db import ONCE

__all__ = ["KEEP_SECONDS", "claim", "release"]

#: How long a claimed key is remembered.
KEEP_SECONDS = 24 * 3600


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
