"""Blind indexes: HMAC-SHA256 under the ring's index key, whatever the number of threads."""

from __future__ import annotations

import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor

from services.common.holder_vault import HolderVault
from services.common.identifiers import HolderKind, HolderNumber
from services.common.sealing import Sealer

INDEX_KEY = bytes(range(32))


def test_a_keyed_hash_is_hmac_sha256_under_the_index_key() -> None:
    vault = HolderVault(Sealer({"k1": b"k" * 32}, "k1", index_key=INDEX_KEY))
    for data in (b"", b"1:11010519491231002X", "张三".encode(), b"x" * 10_000):
        assert vault.mac(data) == hmac.new(INDEX_KEY, data, hashlib.sha256).hexdigest()
    person = HolderNumber(HolderKind.PERSON, "11010519491231002X")
    expected = hmac.new(INDEX_KEY, f"{person.kind.value}:{person.value}".encode(), "sha256")
    assert vault.index(person) == expected.hexdigest()


def test_a_key_of_any_length_gives_hmac_sha256() -> None:
    """RFC 2104's key handling: shorter keys padded, a key longer than SHA-256's 64-byte
    block hashed first; at the block's length exactly, neither."""
    for key in (b"k", bytes(range(64)), bytes(range(65)), b"\xff" * 200):
        vault = HolderVault(Sealer({"k1": b"k" * 32}, "k1", index_key=key))
        assert vault.sealer.index_key == key
        for data in (b"", "name:福州示例企业7".encode(), b"y" * 130):
            assert vault.mac(data) == hmac.new(key, data, hashlib.sha256).hexdigest(), key


def test_concurrent_hashes_do_not_disturb_each_other() -> None:
    vault = HolderVault(Sealer({"k1": b"k" * 32}, "k1", index_key=INDEX_KEY))
    data = [str(i).encode() for i in range(2000)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(vault.mac, data))
    assert got == [hmac.new(INDEX_KEY, d, hashlib.sha256).hexdigest() for d in data]
