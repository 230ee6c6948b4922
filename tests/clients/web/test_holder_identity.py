"""Who the holder is: the portal's signed assertion (each way it can be wrong refused with its
own reason) and the development one-time codes (tries, lapse, rate limit, what is logged)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from stdnum.cn import uscc

from clients.web.holder_identity import (
    AssertionCheck,
    AssertionRefused,
    DevCodes,
    is_credit_code,
    is_resident_id,
    load_idp_keys,
    sign_in_nonce,
)
from tests.clients.web.conftest import FakeClock

PERSON = "11010519491231002X"
ORGANISATION = "91350100M000100Y43"
ISSUER = "https://id.mzt.example.gov.cn"
AUDIENCE = "yihao-web"
NONCE = sign_in_nonce("the-browser-session-id")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(key: ed25519.Ed25519PrivateKey, claims: dict[str, Any], **header: Any) -> str:
    """A compact JWS as the portal's identity provider makes it."""
    head = b64(json.dumps({"alg": "EdDSA", "kid": "idp-1", **header}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(key.sign(f'{head}.{body}'.encode()))}"


@pytest.fixture
def idp_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pem(key: ed25519.Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def write_keys(path: Path, key: ed25519.Ed25519PrivateKey) -> Path:
    path.write_text(json.dumps({"idp-1": pem(key)}), encoding="utf-8")
    return path


@pytest.fixture
def check(idp_key, tmp_path: Path, clock: FakeClock) -> AssertionCheck:
    keys = load_idp_keys(write_keys(tmp_path / "idp.json", idp_key))
    return AssertionCheck(keys, ISSUER, AUDIENCE, clock)


def claims(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    now = int(clock())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": PERSON,
        "iat": now,
        "exp": now + 120,
        "jti": f"jti-{now}-{len(changes)}-{sorted(changes)}",
        "nonce": NONCE,
        **changes,
    }


def test_resident_id_check_character() -> None:
    assert is_resident_id(PERSON)
    assert not is_resident_id("110105194912310021")  # wrong check character
    assert not is_resident_id("11010519491231002")  # too short
    assert not is_resident_id("91350100M000100Y43")  # a credit code, not a person


def test_credit_code_check_character() -> None:
    assert is_credit_code(ORGANISATION)
    assert not is_credit_code("91350100M000100Y44")  # wrong check character
    assert not is_credit_code("91350100m000100y43")  # as typed, not as the code is written
    assert not is_credit_code("9135 0100M000100Y43")
    assert not is_credit_code(PERSON)
    wrong_org_check = "91350100M000100Y5"  # GB 11714 wants 4; the MOD 31 check made to fit
    assert not is_credit_code(wrong_org_check + uscc.calc_check_digit(wrong_org_check))
    other_authority = "Y1350100M000100Y4"  # stdnum's is_valid refuses Y; the services accept it
    assert is_credit_code(other_authority + uscc.calc_check_digit(other_authority))


def test_an_organisation_signs_in_through_the_person_acting_for_it(check, idp_key, clock):
    acting = claims(clock, sub=ORGANISATION, act={"sub": PERSON}, jti="org-acting-1")
    assert check.signed_in(sign(idp_key, acting), NONCE) == (ORGANISATION, PERSON)
    alone = claims(clock, jti="person-alone-1")  # a person: no one else acting
    assert check.signed_in(sign(idp_key, alone), NONCE) == (PERSON, "")
    for changes in (
        {"sub": ORGANISATION},  # no one acting for it
        {"sub": ORGANISATION, "act": {"sub": "110105194912310021"}},  # not a person's number
        {"sub": ORGANISATION, "act": PERSON},  # not RFC 8693's shape
        {"sub": ORGANISATION, "act": {"sub": ORGANISATION}},  # an organisation acting
        {"act": {"sub": PERSON}},  # a person's assertion names no actor
    ):
        with pytest.raises(AssertionRefused) as refused:
            check.subject(sign(idp_key, claims(clock, **changes)), NONCE)
        assert refused.value.reason == "ACTOR", changes


def test_a_good_assertion_names_the_person_once(check, idp_key, clock) -> None:
    token = sign(idp_key, claims(clock))
    assert check.subject(token, NONCE) == PERSON
    with pytest.raises(AssertionRefused) as again:
        check.subject(token, NONCE)
    assert again.value.reason == "REPLAYED"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example"}, "ISSUER"),
        ({"aud": "another-desk"}, "AUDIENCE"),
        ({"sub": "110105194912310021"}, "SUBJECT"),
        ({"sub": 110105}, "SUBJECT"),
        ({"jti": "short"}, "JTI"),
        ({"exp": "soon"}, "TIMES"),
        ({"nonce": sign_in_nonce("another-browser")}, "NONCE"),
        ({"nonce": None}, "NONCE"),
        ({"nonce": ""}, "NONCE"),
    ],
)
def test_each_wrong_claim_is_refused(check, idp_key, clock, changes, reason) -> None:
    with pytest.raises(AssertionRefused) as refused:
        check.subject(sign(idp_key, claims(clock, **changes)), NONCE)
    assert refused.value.reason == reason


def test_lifetimes_expiry_and_the_future_are_refused(check, idp_key, clock) -> None:
    now = int(clock())
    too_long = claims(clock, exp=now + 301)
    from_future = claims(clock, iat=now + 60, exp=now + 120)
    with pytest.raises(AssertionRefused, match="TIMES"):
        check.subject(sign(idp_key, too_long), NONCE)
    with pytest.raises(AssertionRefused, match="TIMES"):
        check.subject(sign(idp_key, from_future), NONCE)
    token = sign(idp_key, claims(clock))
    clock.advance(121 + 31)
    with pytest.raises(AssertionRefused, match="EXPIRED"):
        check.subject(token, NONCE)


def test_another_key_another_kid_none_and_junk_are_refused(check, idp_key, clock) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    cases = {
        "SIGNATURE": sign(other, claims(clock)),
        "UNKNOWN_KEY": sign(idp_key, claims(clock), kid="idp-2"),
        "ALGORITHM": sign(idp_key, claims(clock), alg="none"),
        "MALFORMED": "not.a.jws!",
    }
    for reason, token in cases.items():
        with pytest.raises(AssertionRefused) as refused:
            check.subject(token, NONCE)
        assert refused.value.reason == reason
    good = sign(idp_key, claims(clock))
    head, body, sig = good.split(".")
    edited = json.loads(base64.urlsafe_b64decode(body + "=="))
    edited["sub"] = "11010519491231003"  # another person, same signature
    forged = f"{head}.{b64(json.dumps(edited).encode())}.{sig}"
    with pytest.raises(AssertionRefused, match="SIGNATURE"):
        check.subject(forged, NONCE)


def test_the_nonce_names_one_browser_and_nothing_else() -> None:
    first, second = sign_in_nonce("session-a"), sign_in_nonce("session-b")
    assert first != second and first == sign_in_nonce("session-a")
    assert len(first) == 43 and "session" not in first  # 256 bits, base64url, no padding


def test_an_assertion_without_the_nonce_is_refused_and_not_spent(check, idp_key, clock) -> None:
    without = claims(clock)
    del without["nonce"]
    with pytest.raises(AssertionRefused, match="NONCE"):
        check.subject(sign(idp_key, without), NONCE)
    token = sign(idp_key, claims(clock))
    with pytest.raises(AssertionRefused, match="NONCE"):  # posted in another browser
        check.subject(token, sign_in_nonce("victim-session"))
    assert check.subject(token, NONCE) == PERSON  # its own browser still can


def test_a_key_file_must_hold_ed25519_public_keys(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="kid -> PEM"):
        load_idp_keys(bad)


def test_dev_codes_tries_lapse_and_limits(clock, caplog) -> None:
    codes = DevCodes(clock, per_address=2)
    with caplog.at_level(logging.WARNING, logger="yihao.web.holder"):
        pending = codes.start(PERSON, "10.0.0.1")
    line = json.loads(caplog.records[-1].getMessage())
    assert line["event"] == "web.holder_dev_code" and line["holder"] == "110105********002X"
    assert PERSON not in caplog.text
    code = line["code"]
    wrong = "000000" if code != "000000" else "111111"
    assert codes.finish(pending, wrong) == (None, 4)
    assert codes.finish(pending, code) == (PERSON, 0)
    assert codes.finish(pending, code) == (None, 0)  # used once

    pending = codes.start(PERSON, "10.0.0.1")
    for left in (4, 3, 2, 1):
        assert codes.finish(pending, "abc") == (None, left)
    assert codes.finish(pending, "abc") == (None, 0)  # lapsed after five wrong tries
    assert codes.limited("10.0.0.1") and not codes.limited("10.0.0.2")
    clock.advance(901)
    assert not codes.limited("10.0.0.1")

    pending = codes.start(PERSON, "10.0.0.3")
    clock.advance(301)
    assert codes.finish(pending, "123456") == (None, 0)  # too old
