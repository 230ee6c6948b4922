"""Unit tests of departments in the licence catalogue: Department.create and its checks, and
the validity window of a department's signing key (SigningKeyRecord).

Plain Python, no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common.roles import Role
from services.licence_store.domain.catalogue import Department, SigningKeyRecord
from tests.common.identifier_helpers import invalid, only_violation
from tests.licence_store.domain.catalogue_helpers import (
    BAD_CHECK,
    POLICE,
)

# --- Department ------------------------------------------------------------------------------


def create_department(**overrides) -> Department:
    arguments = {
        "credit_code": POLICE,
        "name": "福州市公安局",
        "region": "350100",
        "roles": [Role.OPERATOR, Role.PROVIDER],
    }
    return Department.create(**{**arguments, **overrides})


def test_department_create_normalises() -> None:
    department = create_department(
        credit_code=f" {POLICE.lower()} ", name=" 福州市公安局 ", region=" 350100 "
    )
    assert department == Department(
        POLICE, "福州市公安局", "350100", frozenset({Role.OPERATOR, Role.PROVIDER})
    )
    assert department.keys == ()


def test_department_has_role() -> None:
    department = create_department(roles=(r for r in [Role.HANDLER]))
    assert department.has_role(Role.HANDLER)
    assert not department.has_role(Role.OPERATOR)


@pytest.mark.parametrize(
    ("code", "reason"), [(BAD_CHECK, "CHECK_CHARACTER"), ("", "REQUIRED"), ("1135", "LENGTH")]
)
def test_department_bad_credit_code(code: str, reason: str) -> None:
    assert only_violation(invalid(create_department, credit_code=code)) == ("credit_code", reason)


@pytest.mark.parametrize("region", ["35010", "3501000", "35O100", "", "３５０１００"])
def test_department_bad_region(region: str) -> None:
    assert only_violation(invalid(create_department, region=region)) == ("region", "REGION")


@pytest.mark.parametrize(
    ("name", "reason"), [("", "REQUIRED"), ("局" * 101, "TOO_LONG"), ("公安\n局", "CHARACTER_SET")]
)
def test_department_bad_name(name: str, reason: str) -> None:
    assert only_violation(invalid(create_department, name=name)) == ("name", reason)


# --- SigningKeyRecord ------------------------------------------------------------------------

KEY_FROM = datetime(2026, 1, 1, tzinfo=UTC)
KEY_UNTIL = datetime(2027, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def key(valid_until: datetime | None) -> SigningKeyRecord:
    return SigningKeyRecord("police-1", POLICE, "Ed25519", b"\x01" * 32, KEY_FROM, valid_until)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (KEY_FROM - TICK, False),
        (KEY_FROM, True),
        (KEY_UNTIL - TICK, True),
        (KEY_UNTIL, False),
        (KEY_UNTIL + timedelta(days=1), False),
    ],
)
def test_signing_key_valid_from_inclusive_until_exclusive(at: datetime, expected: bool) -> None:
    assert key(KEY_UNTIL).valid_at(at) is expected


def test_signing_key_without_end_is_valid_from_its_start_on() -> None:
    open_ended = key(None)
    assert not open_ended.valid_at(KEY_FROM - TICK)
    assert open_ended.valid_at(KEY_FROM)
    assert open_ended.valid_at(datetime(2100, 1, 1, tzinfo=UTC))
