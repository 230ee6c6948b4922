"""What the tests of services.common.identifiers share: small, independent reference
implementations of the check characters (citizen ID MOD 11-2, credit code MOD 31 and
GB 11714, licence identifier MOD 37,36), straight from the published weights and never
using the module under test; a generator of valid credit codes built with them; and a
helper that expects an InvalidArgument.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import strategies as st

from services.common.errors import InvalidArgument

# --- independent reference implementations ---------------------------------------------------

CITIZEN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ALNUM = string.digits + string.ascii_uppercase


def ref_citizen_check(body: str) -> str:
    total = sum(int(d) * w for d, w in zip(body, CITIZEN_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def ref_mod31(body: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(body, CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def ref_gb11714(body: str) -> str:
    total = sum(ALNUM.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def ref_credit_code(prefix: str, organisation: str) -> str:
    """prefix: positions 1-8; organisation: positions 9-16 (check 17 and 18 are computed)."""
    body = prefix + organisation + ref_gb11714(organisation)
    return body + ref_mod31(body)


def ref_mod37_36(payload: str) -> str:
    product = 36
    for char in payload:
        total = (product + ALNUM.index(char)) % 36 or 36
        product = total * 2 % 37
    return ALNUM[(1 - product) % 36]


def invalid(fn, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        fn(*args, **kwargs)
    return info.value


def only_violation(error: InvalidArgument) -> tuple[str, str]:
    """(field, reason) of an error that must carry exactly one violation."""
    assert len(error.violations) == 1, error.violations
    violation = error.violations[0]
    assert error.reason == violation.reason
    return violation.field, violation.reason


#: Valid credit codes of every registration authority, built with the reference implementations.
credit_codes = st.builds(
    lambda authority, kind, region, organisation: ref_credit_code(
        f"{authority}{kind}{region:06d}", organisation
    ),
    st.sampled_from("123456789ANY"),
    st.sampled_from("1239"),
    st.integers(0, 999_999),
    st.text(CREDIT_ALPHABET, min_size=8, max_size=8),
)
