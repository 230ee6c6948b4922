"""Tests for services.common.signing: canonical JSON and Ed25519 signatures."""

from __future__ import annotations

import re

import pytest

from services.common.errors import InvalidArgument
from services.common.signing import (
    ED25519,
    SUPPORTED_ALGORITHMS,
    PublicKey,
    SigningKey,
    canonical_json,
    new_key_id,
    sha256_hex,
)


def test_canonical_json_sorts_keys_and_keeps_unicode() -> None:
    assert canonical_json({"b": 1, "a": "张"}) == '{"a":"张","b":1}'.encode()


def test_canonical_json_sorts_keys_by_utf16_code_units() -> None:
    # By code point U+FB33 < U+1F600, but in UTF-16 the emoji's surrogate 0xD83D comes first.
    doc = {"\ufb33": 1, "\U0001f600": 2, "a": 3}
    assert canonical_json(doc) == '{"a":3,"\U0001f600":2,"\ufb33":1}'.encode()


def test_canonical_json_sorts_nested_objects_without_whitespace() -> None:
    assert canonical_json({"z": [{"y": 1, "x": 2}], "a": {}}) == b'{"a":{},"z":[{"x":2,"y":1}]}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, b"1"),
        (-0.0, b"0"),
        (0.1, b"0.1"),
        (1e21, b"1e+21"),
        (1e-7, b"1e-7"),
        (123456789012.5, b"123456789012.5"),
        (True, b"true"),
        (None, b"null"),
    ],
)
def test_canonical_json_number_and_literal_formatting(value: object, expected: bytes) -> None:
    assert canonical_json(value) == expected


def test_canonical_json_string_escapes() -> None:
    assert canonical_json('a/"\\\n\x0f€') == '"a/\\"\\\\\\n\\u000f€"'.encode()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2**53 + 1, {1: "x"}, object()])
def test_canonical_json_rejects_values_json_cannot_carry(value: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        canonical_json(value)
    assert info.value.reason == "NOT_CANONICAL_JSON"


def test_sha256_hex() -> None:
    assert sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_new_key_id_format_and_uniqueness() -> None:
    key_id = new_key_id("dept")
    assert re.fullmatch(r"dept-\d{8}-[0-9a-f]{8}", key_id)
    assert new_key_id("dept") != key_id


def test_sign_verify_round_trip() -> None:
    key = SigningKey.generate("k1")
    data = canonical_json({"licence": "L-1", "holder": "张三"})
    signature = key.sign(data)
    assert len(signature) == 64
    public = key.public()
    assert public == PublicKey("k1", ED25519, public.public_key)
    assert len(public.public_key) == 32
    assert public.verify(data, signature)


def test_flipped_byte_in_data_or_signature_fails() -> None:
    key = SigningKey.generate("k1")
    data = b'{"a":1}'
    signature = key.sign(data)
    bad_data = bytes([data[0] ^ 1]) + data[1:]
    bad_signature = signature[:10] + bytes([signature[10] ^ 0x80]) + signature[11:]
    assert not key.public().verify(bad_data, signature)
    assert not key.public().verify(data, bad_signature)


def test_other_key_does_not_verify() -> None:
    data = b"data"
    signature = SigningKey.generate("k1").sign(data)
    assert not SigningKey.generate("k2").public().verify(data, signature)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 64, b"garbage", b"\xff" * 200])
def test_verify_on_garbage_returns_false(signature: bytes) -> None:
    assert SigningKey.generate("k1").public().verify(b"data", signature) is False


def test_verify_on_wrong_types_returns_false() -> None:
    public = SigningKey.generate("k1").public()
    assert public.verify(None, None) is False  # type: ignore[arg-type]


def test_private_bytes_round_trip() -> None:
    key = SigningKey.generate("k1")
    raw = key.private_bytes()
    assert len(raw) == 32
    again = SigningKey.from_private_bytes("k1", raw)
    assert again.public() == key.public()
    assert key.public().verify(b"x", again.sign(b"x"))


def test_signing_key_repr_hides_key_material() -> None:
    key = SigningKey.generate("k1")
    assert key.private_bytes().hex() not in repr(key)
    assert "k1" in repr(key)


def test_pem_round_trip() -> None:
    public = SigningKey.generate("k1").public()
    pem = public.to_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert PublicKey.from_pem("k1", pem) == public
    assert PublicKey.from_pem("k1", pem.encode()) == public


@pytest.mark.parametrize("pem", ["", "not a pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n", "张"])
def test_from_pem_rejects_garbage(pem: str) -> None:
    with pytest.raises(InvalidArgument):
        PublicKey.from_pem("k1", pem)


def test_from_pem_rejects_other_key_types() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(InvalidArgument) as info:
        PublicKey.from_pem("k1", pem)
    assert info.value.reason == "UNSUPPORTED_ALGORITHM"


def test_unsupported_algorithm_is_rejected() -> None:
    assert set(SUPPORTED_ALGORITHMS) == {ED25519}
    with pytest.raises(InvalidArgument) as info:
        SigningKey.generate("k1", algorithm="SM2")
    assert info.value.reason == "UNSUPPORTED_ALGORITHM"
    with pytest.raises(InvalidArgument):
        PublicKey("k1", "ECDSA-P256-SHA256", b"\x00" * 32)


@pytest.mark.parametrize("raw", [b"", b"\x00" * 31, b"\x00" * 33])
def test_bad_key_bytes_are_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidArgument):
        SigningKey.from_private_bytes("k1", raw)
    with pytest.raises(InvalidArgument):
        PublicKey("k1", ED25519, raw)


def test_empty_key_id_is_rejected() -> None:
    with pytest.raises(InvalidArgument):
        SigningKey.generate("")


# --- the json.dumps fast path must agree with the rfc8785 package everywhere it is taken ---

import rfc8785  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_json_values)
def test_canonical_json_equals_rfc8785_for_any_value(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError:
        return  # e.g. lone surrogates: not JSON text at all
    assert canonical_json(value) == expected


def test_canonical_json_fast_path_covers_licence_content() -> None:
    from services.common.canonical import _plain

    content = {
        "holder": {"kind": "person", "name": "张三", "number": "11010519491231002X"},
        "fields": {"address": "福州市\n鼓楼区", "score": 95, "ok": True},
        "valid_until": None,
    }
    assert _plain(content)
    assert canonical_json(content) == rfc8785.dumps(content)
