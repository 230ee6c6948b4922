"""Presented documents and QR payloads, checked offline against public keys."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta

from services.common.signing import SigningKey, canonical_json, signature_holds
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.verifier.domain.document import check_document, decode_qr, encode_qr
from services.verifier.domain.verdict import Integrity

ISSUER = "1135010052601815X2"
SIGNED_AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
KEY = SigningKey.generate("market-key-1")
CONTENT = {
    "licence_id": "1.2.156.3005.2.11100000000013338W011.1135010052601815X2.2026AB.001.X",
    "issuer_code": ISSUER,
    "version": 1,
    "version_at": SIGNED_AT.isoformat(),
    "holder": {"kind": "organisation", "number": "91350100M000100Y43", "name": "示例"},
    "fields": {"registered_capital": "500"},
}


#: The domain's check with the real signature check passed in, as the verifier passes it.
check_signed = functools.partial(check_document, verify=signature_holds)


def record(valid_from=SIGNED_AT - timedelta(days=1), valid_until=None, owner=ISSUER):
    return SigningKeyRecord(
        KEY.key_id, owner, KEY.algorithm, KEY.public().public_key, valid_from, valid_until
    )


def keys(rec):
    return lambda key_id: rec if key_id == rec.key_id else None


def signed():
    body = canonical_json(CONTENT)
    return body.decode(), KEY.sign(body)


def test_authentic_document():
    content, sig = signed()
    check = check_signed(content, KEY.key_id, sig, keys(record()))
    assert check.authentic and check.content["issuer_code"] == ISSUER


def test_same_value_in_another_json_layout_still_verifies():
    _, sig = signed()
    pretty = json.dumps(CONTENT, indent=2, ensure_ascii=True)
    assert check_signed(pretty, KEY.key_id, sig, keys(record())).authentic


def test_tampered_content_fails():
    content, sig = signed()
    check = check_signed(content.replace("500", "5000"), KEY.key_id, sig, keys(record()))
    assert check.integrity is Integrity.SIGNATURE_INVALID


def test_unknown_key_and_key_of_another_department():
    content, sig = signed()
    assert check_signed(content, "other", sig, keys(record())).integrity is Integrity.KEY_UNKNOWN
    wrong_owner = record(owner="113501009083016632")
    assert (
        check_signed(content, KEY.key_id, sig, keys(wrong_owner)).integrity is Integrity.KEY_UNKNOWN
    )


def test_key_not_valid_when_it_signed():
    content, sig = signed()
    retired = record(valid_until=SIGNED_AT - timedelta(seconds=1))
    assert (
        check_signed(content, KEY.key_id, sig, keys(retired)).integrity
        is Integrity.KEY_NOT_VALID_AT_SIGNING
    )


def test_garbage_is_never_authentic():
    for content in ("", "null", "[]", "{", '{"licence_id": 1}', "x" * 1000):
        assert not check_signed(content, KEY.key_id, b"sig", keys(record())).authentic


def test_qr_round_trip_and_forgery():
    payload = encode_qr({"k": KEY.key_id, "lid": "x", "exp": 1}, KEY.sign)

    def verify(key_id, raw, sig):
        return key_id == KEY.key_id and KEY.public().verify(raw, sig)

    decoded = decode_qr(payload, verify)
    assert decoded is not None and decoded.valid_signature and decoded.body["lid"] == "x"
    prefix, body, _sig = payload.split(".")
    other = SigningKey.generate(KEY.key_id)
    forged_sig = encode_qr({"k": KEY.key_id, "lid": "y", "exp": 1}, other.sign).split(".")[2]
    assert not decode_qr(f"{prefix}.{body}.{forged_sig}", verify).valid_signature
    for junk in ("", "YH1", "YH1.a.b.c", "XX1.e30.AA", "YH1.!!!.AA", "YH1.e30.AA"):
        assert decode_qr(junk, verify) is None
