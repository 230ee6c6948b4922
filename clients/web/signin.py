"""Signing in: passwords, lockout, per-address limits, and the record of every attempt.

:class:`SignInService` decides; :class:`SignInLog` remembers (desk database table
``web_sign_ins``) and writes one JSON log line per event with no personal data: the account
appears only as a short hash, the client address not at all.

Lockout: ``lockout_failures`` failed sign-ins of one account id (typed ids are counted whether
or not the account exists, so the answer does not tell which ids exist) lock it for
``lockout_seconds``; failures are counted since the later of the last success, lock or
unlock, within the last ``lockout_seconds``. One client address gets ``address_failures``
failures in that window, then is refused until they age out.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select

from clients.web.accounts import Account, AccountStore, normalise_account_id
from clients.web.db import SIGN_INS
from clients.web.sessions import Clock

__all__ = ["Outcome", "SignInLimits", "SignInLog", "SignInResult", "SignInService"]

LOG = logging.getLogger("yihao.web.signin")
_FAILURES = ("failed",)


class Outcome(enum.Enum):
    """How a sign-in attempt ended."""

    SIGNED_IN = "signed_in"
    WRONG = "failed"  # wrong account or password (the page never says which)
    LOCKED = "refused_locked"
    DISABLED = "refused_disabled"
    ADDRESS_LIMITED = "refused_address"


@dataclass(frozen=True)
class SignInResult:
    """The outcome; ``account`` when signed in; ``retry_after`` seconds when refused."""

    outcome: Outcome
    account: Account | None = None
    retry_after: float = 0.0


@dataclass(frozen=True)
class SignInLimits:
    """Lockout and rate-limit settings."""

    lockout_failures: int = 5
    lockout_seconds: float = 15 * 60
    address_failures: int = 20


def account_ref(account_id: str | None) -> str:
    """A short, stable stand-in for an account id in log lines."""
    if not account_id:
        return "-"
    return hashlib.sha256(account_id.encode()).hexdigest()[:12]


class SignInLog:
    """Every sign-in event, in the desk database and as a JSON log line."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, kind: str, account_id: str | None, address: str | None, at: float) -> None:
        """Keep one event."""
        with self._engine.begin() as conn:
            conn.execute(
                insert(SIGN_INS).values(
                    at=at, kind=kind, account_id=account_id, client_address=address
                )
            )
        LOG.info(json.dumps({"event": f"web.{kind}", "account": account_ref(account_id)}))

    def last(self, account_id: str, kinds: tuple[str, ...]) -> float | None:
        """When an event of ``kinds`` last happened to the account."""
        query = select(func.max(SIGN_INS.c.at)).where(
            SIGN_INS.c.account_id == account_id, SIGN_INS.c.kind.in_(kinds)
        )
        with self._engine.connect() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else float(value)

    def count(
        self, *, since: float, account_id: str | None = None, address: str | None = None
    ) -> int:
        """Failures since ``since`` of one account or from one address."""
        query = select(func.count()).where(SIGN_INS.c.kind.in_(_FAILURES), SIGN_INS.c.at > since)
        if account_id is not None:
            query = query.where(SIGN_INS.c.account_id == account_id)
        if address is not None:
            query = query.where(SIGN_INS.c.client_address == address)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def events(self, account_id: str | None = None) -> list[tuple[str, str | None]]:
        """(kind, account id) of every event, oldest first (for tests and the admin view)."""
        query = select(SIGN_INS.c.kind, SIGN_INS.c.account_id).order_by(SIGN_INS.c.id)
        if account_id is not None:
            query = query.where(SIGN_INS.c.account_id == account_id)
        with self._engine.connect() as conn:
            return [(row.kind, row.account_id) for row in conn.execute(query)]


class SignInService:
    """Decides a sign-in attempt and records it."""

    def __init__(
        self, accounts: AccountStore, log: SignInLog, clock: Clock, limits: SignInLimits
    ) -> None:
        self._accounts = accounts
        self.log = log
        self._clock = clock
        self.limits = limits

    def locked_until(self, account_id: str) -> float | None:
        """When the account's lock ends, if it is locked now."""
        locked = self.log.last(account_id, ("locked",))
        unlocked = self.log.last(account_id, ("unlocked",))
        if locked is None or (unlocked is not None and unlocked >= locked):
            return None
        until = locked + self.limits.lockout_seconds
        return until if until > self._clock() else None

    def _failures(self, account_id: str, now: float) -> int:
        since = now - self.limits.lockout_seconds
        reset = self.log.last(account_id, ("signed_in", "locked", "unlocked"))
        if reset is not None:
            since = max(since, reset)
        return self.log.count(since=since, account_id=account_id)

    def sign_in(self, typed_id: str, password: str, address: str | None) -> SignInResult:
        """Check the password and the limits; record what happened."""
        now = self._clock()
        account_id = normalise_account_id(typed_id)
        window = now - self.limits.lockout_seconds
        if (
            address
            and self.log.count(since=window, address=address) >= self.limits.address_failures
        ):
            self.log.record(Outcome.ADDRESS_LIMITED.value, account_id, address, now)
            return SignInResult(Outcome.ADDRESS_LIMITED, retry_after=self.limits.lockout_seconds)
        until = self.locked_until(account_id) if account_id else None
        if until is not None:
            self.log.record(Outcome.LOCKED.value, account_id, address, now)
            return SignInResult(Outcome.LOCKED, retry_after=until - now)
        account = self._accounts.check_password(account_id, password)
        if account is None:
            return self._failed(account_id, address, now)
        if account.disabled:
            self.log.record(Outcome.DISABLED.value, account_id, address, now)
            return SignInResult(Outcome.DISABLED)
        self.log.record(Outcome.SIGNED_IN.value, account_id, address, now)
        return SignInResult(Outcome.SIGNED_IN, account=account)

    def _failed(self, account_id: str | None, address: str | None, now: float) -> SignInResult:
        self.log.record(Outcome.WRONG.value, account_id, address, now)
        if account_id and self._failures(account_id, now) >= self.limits.lockout_failures:
            self.log.record("locked", account_id, address, now)
            return SignInResult(Outcome.LOCKED, retry_after=self.limits.lockout_seconds)
        return SignInResult(Outcome.WRONG)

    def signed_out(self, account_id: str | None, address: str | None) -> None:
        """Record a sign-out."""
        self.log.record("signed_out", account_id, address, self._clock())

    def unlock(self, account_id: str) -> None:
        """Lift a lock now (an administrator's act)."""
        self.log.record("unlocked", account_id, None, self._clock())
