"""Tests for services.common.pki: the development PKI and credit codes in client certificates."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.errors import InvalidArgument
from services.common.pki import (
    CREDIT_CODE_URI_PREFIX,
    DevPki,
    credit_code_from_pem,
    init_dev_pki,
    issue_client_cert,
    make_ca,
)

CODE_A = "91110000MA00000001"
CODE_B = "11110000000000000B"
DEPARTMENTS = [(CODE_A, "北京市公安局"), (CODE_B, "Civil Affairs Bureau")]


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return init_dev_pki(tmp_path / "pki", DEPARTMENTS)


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_created_and_keys_private(pki: DevPki) -> None:
    assert pki.ca_cert() == pki.directory / "ca.crt"
    assert pki.client_cert(CODE_A) == pki.directory / "clients" / f"{CODE_A}.crt"
    certs = [pki.ca_cert(), pki.server_cert(), pki.client_cert(CODE_A), pki.client_cert(CODE_B)]
    keys = [pki.ca_key(), pki.server_key(), pki.client_key(CODE_A), pki.client_key(CODE_B)]
    for path in certs + keys:
        assert path.is_file(), path
    for path in keys:
        assert _mode(path) == 0o600, path
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert not [p for p in pki.directory.rglob("*.tmp")]


def test_ca_is_a_ca(pki: DevPki) -> None:
    ca = _load(pki.ca_cert())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    ca.verify_directly_issued_by(ca)


def test_server_cert_has_dns_and_ip_sans(pki: DevPki) -> None:
    cert = _load(pki.server_cert())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(_load(pki.ca_cert()))


def test_client_cert_carries_credit_code(pki: DevPki) -> None:
    cert_pem = pki.client_cert(CODE_A).read_bytes()
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:uscc:{CODE_A}"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "北京市公安局"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CODE_A
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert credit_code_from_pem(cert_pem) == CODE_A
    assert credit_code_from_pem(pki.client_cert(CODE_B).read_bytes()) == CODE_B


def test_client_chain_verifies_against_ca(pki: DevPki) -> None:
    ca = _load(pki.ca_cert())
    for code, _ in DEPARTMENTS:
        _load(pki.client_cert(code)).verify_directly_issued_by(ca)


def test_second_call_is_idempotent_and_adds_departments(pki: DevPki) -> None:
    files = [pki.ca_cert(), pki.ca_key(), pki.server_cert(), pki.client_cert(CODE_A)]
    before = {path: path.read_bytes() for path in files}
    code_c = "12100000400000000C"
    again = init_dev_pki(pki.directory, [*DEPARTMENTS, (code_c, "Tax Bureau")])
    assert again == pki
    assert {path: path.read_bytes() for path in files} == before
    new = _load(pki.client_cert(code_c))
    new.verify_directly_issued_by(_load(pki.ca_cert()))
    assert credit_code_from_pem(pki.client_cert(code_c).read_bytes()) == code_c


def test_force_makes_everything_anew(pki: DevPki) -> None:
    old_ca = pki.ca_cert().read_bytes()
    old_client = pki.client_cert(CODE_A).read_bytes()
    init_dev_pki(pki.directory, DEPARTMENTS, force=True)
    assert pki.ca_cert().read_bytes() != old_ca
    assert pki.client_cert(CODE_A).read_bytes() != old_client
    _load(pki.client_cert(CODE_A)).verify_directly_issued_by(_load(pki.ca_cert()))
    _load(pki.server_cert()).verify_directly_issued_by(_load(pki.ca_cert()))


def test_cert_without_uscc_san_gives_none(pki: DevPki) -> None:
    ca_pem, _ = make_ca("No SAN CA")
    assert credit_code_from_pem(ca_pem) is None
    assert credit_code_from_pem(pki.server_cert().read_bytes()) is None
    assert credit_code_from_pem(b"not a certificate") is None


def test_credit_code_from_pem_is_cached(pki: DevPki) -> None:
    cert_pem = pki.client_cert(CODE_A).read_bytes()
    credit_code_from_pem(cert_pem)
    hits = credit_code_from_pem.cache_info().hits
    assert credit_code_from_pem(cert_pem) == CODE_A
    assert credit_code_from_pem.cache_info().hits == hits + 1


def test_issue_expired_client_cert_without_writing(pki: DevPki) -> None:
    past = datetime.now(UTC) - timedelta(days=30)
    cert_pem, key_pem = issue_client_cert(
        pki, "EXPIRED01", "Expired", not_before=past, not_after=past + timedelta(days=1)
    )
    assert not pki.client_cert("EXPIRED01").exists()
    assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.not_valid_after_utc < datetime.now(UTC)
    cert.verify_directly_issued_by(_load(pki.ca_cert()))
    assert credit_code_from_pem(cert_pem) == "EXPIRED01"


def test_issue_client_cert_from_foreign_ca(pki: DevPki, tmp_path: Path) -> None:
    ca_pem, ca_key_pem = make_ca("Rogue CA")
    (tmp_path / "rogue.crt").write_bytes(ca_pem)
    (tmp_path / "rogue.key").write_bytes(ca_key_pem)
    cert_pem, _ = issue_client_cert(
        pki, CODE_A, "Impostor", ca_cert=tmp_path / "rogue.crt", ca_key=tmp_path / "rogue.key"
    )
    cert = x509.load_pem_x509_certificate(cert_pem)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    with pytest.raises((InvalidSignature, ValueError)):
        cert.verify_directly_issued_by(_load(pki.ca_cert()))
    assert credit_code_from_pem(cert_pem) == CODE_A


def test_custom_hosts(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path, [], hosts=("yihao.internal", "10.0.0.7", "::1"))
    san = _load(pki.server_cert()).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["yihao.internal"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.7"),
        ipaddress.ip_address("::1"),
    ]


@pytest.mark.parametrize("code", ["", "../etc", "a/b", "x" * 65, "中文"])
def test_unsafe_credit_codes_are_rejected(tmp_path: Path, code: str) -> None:
    with pytest.raises(InvalidArgument):
        init_dev_pki(tmp_path, [(code, "Bad")])
    with pytest.raises(InvalidArgument):
        DevPki(tmp_path).client_cert(code)


def test_uri_prefix() -> None:
    assert CREDIT_CODE_URI_PREFIX == "urn:uscc:"
