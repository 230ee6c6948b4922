"""Tests for services.common.sealing: AES-256-GCM sealing with rotating keys."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from services.common.errors import Internal, InvalidArgument
from services.common.sealing import Sealer, blind_index

K1 = b"\x01" * 32
K2 = b"\x02" * 32
SECRET = b"department private signing key"


def _expect_unseal_failed(sealer: Sealer, blob: bytes, aad: bytes = b"") -> Internal:
    with pytest.raises(Internal) as info:
        sealer.open(blob, aad)
    assert info.value.reason == "UNSEAL_FAILED"
    assert SECRET.decode() not in str(info.value)
    return info.value


def test_round_trip_with_and_without_aad() -> None:
    sealer = Sealer({"k1": K1}, "k1")
    assert sealer.open(sealer.seal(SECRET)) == SECRET
    assert sealer.open(sealer.seal(SECRET, b"dept:1"), b"dept:1") == SECRET
    assert sealer.open(sealer.seal(b"")) == b""


def test_blob_layout() -> None:
    blob = Sealer({"k1": K1}, "k1").seal(SECRET)
    assert blob[:2] == b"v1"
    assert blob[2] == 2
    assert blob[3:5] == b"k1"
    assert len(blob) == 5 + 12 + len(SECRET) + 16
    assert SECRET not in blob


def test_nonces_differ() -> None:
    sealer = Sealer({"k1": K1}, "k1")
    assert sealer.seal(SECRET) != sealer.seal(SECRET)


def test_wrong_aad_fails() -> None:
    sealer = Sealer({"k1": K1}, "k1")
    blob = sealer.seal(SECRET, b"dept:1")
    _expect_unseal_failed(sealer, blob, b"dept:2")
    _expect_unseal_failed(sealer, blob)


@pytest.mark.parametrize("index", [0, 3, 5, 20, -1])
def test_tampered_blob_fails_with_internal(index: int) -> None:
    sealer = Sealer({"k1": K1}, "k1")
    blob = bytearray(sealer.seal(SECRET))
    blob[index] ^= 0x01
    _expect_unseal_failed(sealer, bytes(blob))


@pytest.mark.parametrize(
    "blob", [b"", b"v1", b"v2\x02k1" + b"\x00" * 40, b"v1\x02k1" + b"\x00" * 5]
)
def test_malformed_blob_fails_with_internal(blob: bytes) -> None:
    _expect_unseal_failed(Sealer({"k1": K1}, "k1"), blob)


def test_unknown_key_fails_with_internal() -> None:
    blob = Sealer({"k0": K1}, "k0").seal(SECRET)
    _expect_unseal_failed(Sealer({"k1": K1}, "k1"), blob)


def test_wrong_key_material_fails() -> None:
    blob = Sealer({"k1": K1}, "k1").seal(SECRET)
    _expect_unseal_failed(Sealer({"k1": K2}, "k1"), blob)


def test_rotation() -> None:
    old = Sealer({"k1": K1}, "k1")
    blob = old.seal(SECRET, b"aad")
    assert not old.needs_reseal(blob)
    rotated = Sealer({"k1": K1, "k2": K2}, "k2")
    assert rotated.open(blob, b"aad") == SECRET
    assert rotated.needs_reseal(blob)
    resealed = rotated.seal(rotated.open(blob, b"aad"), b"aad")
    assert not rotated.needs_reseal(resealed)
    assert resealed[3:5] == b"k2"
    assert rotated.open(resealed, b"aad") == SECRET


@pytest.mark.parametrize(
    ("keys", "current"),
    [({"k1": K1}, "k2"), ({"k1": b"short"}, "k1"), ({"": K1}, ""), ({"x" * 256: K1}, "x" * 256)],
)
def test_bad_key_ring_is_rejected(keys: dict[str, bytes], current: str) -> None:
    with pytest.raises(InvalidArgument):
        Sealer(keys, current)


def test_repr_hides_keys() -> None:
    text = repr(Sealer({"k1": K1}, "k1"))
    assert "k1" in text
    assert K1.hex() not in text
    assert base64.b64encode(K1).decode() not in text


def test_keyfile_created_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "nested" / "master.json"
    sealer = Sealer.from_keyfile(path, create=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["current"] == "k1"
    assert len(base64.b64decode(doc["keys"]["k1"])) == 32
    assert [p.name for p in path.parent.iterdir()] == ["master.json"]
    # Loading again (with or without create) gives the same keys.
    blob = sealer.seal(SECRET)
    assert Sealer.from_keyfile(path, create=True).open(blob) == SECRET
    assert Sealer.from_keyfile(path).open(blob) == SECRET


def test_missing_keyfile_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        Sealer.from_keyfile(tmp_path / "missing.json")
    assert not (tmp_path / "missing.json").exists()


def test_from_env_value() -> None:
    value = json.dumps(
        {
            "current": "k2",
            "keys": {"k1": base64.b64encode(K1).decode(), "k2": base64.b64encode(K2).decode()},
        }
    )
    sealer = Sealer.from_env_value(value)
    assert sealer.current == "k2"
    assert sealer.open(Sealer({"k1": K1}, "k1").seal(SECRET)) == SECRET


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        "[]",
        '{"current": "k1"}',
        '{"current": "k1", "keys": {}}',
        '{"current": "k1", "keys": {"k1": "!!!"}}',
        '{"current": "k1", "keys": {"k1": 5}}',
        '{"current": "k1", "keys": {"k1": "AAAA"}}',
    ],
)
def test_bad_env_value_is_rejected(value: str) -> None:
    with pytest.raises(InvalidArgument):
        Sealer.from_env_value(value)


def test_blind_index() -> None:
    index = blind_index(K1, "110101199001011234")
    assert len(index) == 64
    assert index == blind_index(K1, "110101199001011234")
    assert index != blind_index(K2, "110101199001011234")
    assert index != blind_index(K1, "110101199001011235")
    with pytest.raises(InvalidArgument):
        blind_index(b"short", "x")
