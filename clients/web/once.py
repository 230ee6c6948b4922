"""Acting once per submitted form, for acts whose RPC carries no idempotency key.

A verification is a read, but it is not free: each one records a receipt, an access record
on the holder's side and counts against the department's daily budgets. The verifier's RPCs
(VerifyLicence, VerifyByHolder, VerifyDocument, CheckMaterials) take no idempotency key, so
the desk keeps the key end to end itself: every rendered form carries a fresh
``idempotency_key`` (32 hex), and :class:`OnceStore` runs the act for a (session, key) pair at
most once. A double click, a reload that re-posts, or two tabs posting the same form get the
first act's outcome (the same receipt) — a second post that arrives while the first is still
running waits for it rather than calling again.

Outcomes are kept in memory for ``ttl`` seconds (a desk restart forgets them: the next post
of an old form then acts again, which is the one case not covered).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["IDEMPOTENCY_FIELD", "OnceStore", "form_key", "read_form_key"]

T = TypeVar("T")
IDEMPOTENCY_FIELD = "idempotency_key"
_KEY = re.compile(r"^[0-9a-f]{32}$")


def form_key() -> str:
    """A fresh key for a form being rendered."""
    return uuid.uuid4().hex


def read_form_key(value: object) -> str | None:
    """The key a posted form carried when it is one this desk makes; else None."""
    return value if isinstance(value, str) and _KEY.match(value) else None


@dataclass
class _Slot(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None
    at: float = 0.0


class OnceStore(Generic[T]):
    """Runs ``act`` once per key; later calls with the key get its result (or its error is
    not kept: a failed act — the services down, a form error — may be tried again)."""

    def __init__(self, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._slots: dict[tuple[str, str], _Slot[T]] = {}
        self._lock = threading.Lock()

    def run(self, scope: str, key: str, act: Callable[[], T]) -> tuple[T, bool]:
        """(result, replayed): ``replayed`` is True when an earlier post's result is returned."""
        with self._lock:
            self._expire()
            slot = self._slots.get((scope, key))
            owner = slot is None
            if slot is None:
                slot = self._slots[(scope, key)] = _Slot(at=self.clock())
        if not owner:
            slot.done.wait()
            if slot.error is None and slot.value is not None:
                return slot.value, True
            return self.run(scope, key, act)  # the first attempt failed: act now
        try:
            slot.value = act()
        except BaseException as exc:
            slot.error = exc
            with self._lock:
                self._slots.pop((scope, key), None)
            raise
        finally:
            slot.done.set()
        return slot.value, False

    def _expire(self) -> None:
        cutoff = self.clock() - self.ttl
        for k in [k for k, s in self._slots.items() if s.done.is_set() and s.at < cutoff]:
            del self._slots[k]
