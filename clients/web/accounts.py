"""Staff accounts: the embedded default identity store (local accounts, Argon2id passwords).

An :class:`Account` is who signs in at the desk: an id, a display name, the department whose
client certificate the desk calls the services with, and roles among :data:`ROLES`. The
:class:`AccountStore` keeps them in the desk database. This is the seam an identity provider
replaces (docs/web.md, "OIDC"): the views only need :meth:`AccountStore.authenticate`'s answer
and :meth:`AccountStore.get`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from clients.web.db import ACCOUNTS
from yihao_shared.departments import code_of
from yihao_shared.errors import AlreadyExists, FieldViolation, InvalidArgument, NotFound

__all__ = [
    "ACCOUNT_ID_RULE",
    "PASSWORD_HASHER",
    "ROLES",
    "Account",
    "AccountStore",
    "check_new",
    "normalise_account_id",
]

#: The desk's roles: which screens an account may open.
ROLES = ("handler", "supervisor", "operator", "admin")
#: What an account id may look like (also what a typed id must look like to be recorded).
ACCOUNT_ID_RULE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
MIN_PASSWORD = 10

#: The one hashing context: Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1
#: lane; ~0.1 s a check on one busy core here). The library's default (64 MiB, 3 passes, 4
#: lanes) took ~1 s a check on this 2-core machine: a sign-in queue, and a cheap way to load the
#: desk. A hash records its own parameters, so raising these later still checks old hashes.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@dataclass(frozen=True)
class Account:
    """A staff member who may sign in; ``department`` is a credit code."""

    account_id: str
    display_name: str
    department: str
    roles: tuple[str, ...]
    disabled: bool = False

    def has_role(self, *roles: str) -> bool:
        """Whether the account holds any of ``roles``."""
        return any(role in self.roles for role in roles)


def normalise_account_id(typed: str) -> str | None:
    """The account id a person typed, lower-cased; None when it cannot be an id."""
    candidate = typed.strip().lower()
    return candidate if ACCOUNT_ID_RULE.match(candidate) else None


def check_new(
    account_id: str, display_name: str, department: str, roles: Iterable[str], password: str
) -> tuple[str, str, tuple[str, ...]]:
    """A new account's fields checked: (display name, department's credit code, roles), or
    :class:`InvalidArgument` with a violation per bad field."""
    violations = []
    if normalise_account_id(account_id) != account_id:
        violations.append(
            FieldViolation("account", "1-64 of a-z 0-9 . _ -, starting with a letter or digit")
        )
    if not display_name.strip() or len(display_name) > 200:
        violations.append(FieldViolation("display_name", "required, at most 200 characters"))
    code = code_of(department)
    if not _CREDIT_CODE.match(code):
        violations.append(
            FieldViolation(
                "department", f"{department!r} is neither a demo alias nor a credit code"
            )
        )
    wanted = tuple(sorted(set(roles)))
    unknown = [r for r in wanted if r not in ROLES]
    if not wanted or unknown:
        violations.append(FieldViolation("roles", f"one or more of {', '.join(ROLES)}"))
    if len(password) < MIN_PASSWORD:
        violations.append(FieldViolation("password", f"at least {MIN_PASSWORD} characters"))
    if violations:
        raise InvalidArgument(violations=violations)
    return display_name.strip(), code, wanted


def _account(row: object) -> Account:
    m = row._mapping  # type: ignore[attr-defined]
    return Account(
        account_id=m["account_id"],
        display_name=m["display_name"],
        department=m["department"],
        roles=tuple(r for r in m["roles"].split(",") if r),
        disabled=bool(m["disabled"]),
    )


class AccountStore:
    """Local staff accounts in the desk database."""

    def __init__(self, engine: Engine, hasher: PasswordHasher = PASSWORD_HASHER) -> None:
        self._engine = engine
        self._hasher = hasher
        self._dummy: str | None = None

    def _dummy_hash(self) -> str:
        # Checked when the account does not exist, so both cases take as long.
        if self._dummy is None:
            self._dummy = self._hasher.hash("not the password of anyone")
        return self._dummy

    def add(
        self,
        account_id: str,
        display_name: str,
        department: str,
        roles: Iterable[str],
        password: str,
        *,
        now: float,
    ) -> Account:
        """Create an account; :class:`InvalidArgument` per bad field, AlreadyExists."""
        name, code, wanted = check_new(account_id, display_name, department, roles, password)
        if self.get(account_id) is not None:
            raise AlreadyExists(f"account {account_id!r} exists", reason="ACCOUNT_EXISTS")
        row = {
            "account_id": account_id,
            "display_name": name,
            "department": code,
            "roles": ",".join(wanted),
            "password_hash": self._hasher.hash(password),
            "disabled": False,
            "created_at": now,
        }
        with self._engine.begin() as conn:
            conn.execute(insert(ACCOUNTS).values(**row))
        return Account(account_id, name, code, wanted)

    def get(self, account_id: str) -> Account | None:
        """The account, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(select(ACCOUNTS).where(ACCOUNTS.c.account_id == account_id)).first()
        return None if row is None else _account(row)

    def list(self) -> list[Account]:
        """Every account, by id."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(ACCOUNTS).order_by(ACCOUNTS.c.account_id)).all()
        return [_account(row) for row in rows]

    def set_disabled(self, account_id: str, disabled: bool = True) -> Account:
        """Disable (or enable) an account; its sessions end at their next request."""
        return self._update(account_id, disabled=disabled)

    def set_password(self, account_id: str, password: str) -> Account:
        """Give the account a new password (:class:`InvalidArgument` naming ``password`` when
        too short; NotFound)."""
        if len(password) < MIN_PASSWORD:
            raise InvalidArgument.field("password", f"at least {MIN_PASSWORD} characters")
        return self._update(account_id, password_hash=self._hasher.hash(password))

    def _update(self, account_id: str, **values: object) -> Account:
        """Change an account's columns; the account after (NotFound when there is none)."""
        with self._engine.begin() as conn:
            done = conn.execute(
                update(ACCOUNTS).where(ACCOUNTS.c.account_id == account_id).values(**values)
            )
        if done.rowcount == 0:
            raise NotFound(f"no account {account_id!r}", reason="ACCOUNT_NOT_FOUND")
        found = self.get(account_id)
        assert found is not None
        return found

    def check_password(self, account_id: str | None, password: str) -> Account | None:
        """The account when ``password`` is its password (disabled or not), else None.

        Takes as long for an unknown account as for a known one (a dummy hash is checked).
        """
        stored = None
        if account_id is not None:
            with self._engine.connect() as conn:
                stored = conn.execute(
                    select(ACCOUNTS).where(ACCOUNTS.c.account_id == account_id)
                ).first()
        digest = stored._mapping["password_hash"] if stored is not None else self._dummy_hash()
        try:
            self._hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return None
        return None if stored is None else _account(stored)
