"""The development PKI, and reading a department's identity from its client certificate.

Departments authenticate with mutual TLS. A department's unified social credit code travels in
its client certificate as a URI SubjectAlternativeName ``urn:uscc:<code>``; the server reads it
with :func:`credit_code_from_pem` once the TLS layer has verified the chain.

:func:`init_dev_pki` lays out a directory for development and tests, all EC P-256::

    ca.crt, ca.key                       self-signed CA
    server.crt, server.key               serverAuth; DNS and IP SANs for the given hosts
    clients/<credit_code>.crt, .key      clientAuth; CN=<name>, O=<code>, URI urn:uscc:<code>

Private keys are unencrypted PKCS#8 PEM files with mode 0600. Nothing here needs the network.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.errors import FailedPrecondition, InvalidArgument
from yihao_shared.devpki import DevPki, check_credit_code

__all__ = [
    "CREDIT_CODE_URI_PREFIX",
    "DevPki",
    "credit_code_from_pem",
    "init_dev_pki",
    "issue_client_cert",
    "make_ca",
]

CREDIT_CODE_URI_PREFIX = "urn:uscc:"
DEFAULT_VALID_DAYS = 825
CA_MIN_VALID_DAYS = 3650
CLOCK_SKEW = timedelta(minutes=5)
_Ca = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]  # (certificate, private key)


# --- building blocks ------------------------------------------------------------------------


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    if not 1 <= len(common_name) <= 64:
        raise InvalidArgument.field("name", "must be 1 to 64 characters")
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _validity(
    not_before: datetime | None, not_after: datetime | None, days: int
) -> tuple[datetime, datetime]:
    start = not_before or datetime.now(UTC) - CLOCK_SKEW
    return start, not_after or start + CLOCK_SKEW + timedelta(days=days)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    validity: tuple[datetime, datetime],
) -> x509.CertificateBuilder:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign_leaf(
    builder: x509.CertificateBuilder,
    usage: x509.ObjectIdentifier,
    ca: _Ca,
) -> x509.Certificate:
    ca_key = ca[1]
    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _load_ca(cert_path: Path, key_path: Path) -> _Ca:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(
            f"cannot load CA from {cert_path}: {exc}", reason="CA_UNUSABLE"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise FailedPrecondition(f"CA key {key_path} is not an EC key", reason="CA_UNUSABLE")
    return cert, key


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, created with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_pair(cert_path: Path, key_path: Path, pair: tuple[bytes, bytes]) -> None:
    _write(key_path, pair[1], 0o600)
    _write(cert_path, pair[0], 0o644)


# --- issuing --------------------------------------------------------------------------------


def make_ca(common_name: str, *, valid_days: int = CA_MIN_VALID_DAYS) -> tuple[bytes, bytes]:
    """Make a self-signed EC P-256 CA; returns ``(cert_pem, key_pem)``."""
    key = _new_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key, _validity(None, None, valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def _host_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _issue_server_cert(ca: _Ca, hosts: Sequence[str], days: int) -> tuple[bytes, bytes]:
    if not hosts:
        raise InvalidArgument.field("hosts", "at least one host name or address is needed")
    key = _new_key()
    validity = _validity(None, None, days)
    validity = validity[0], min(validity[1], ca[0].not_valid_after_utc)
    builder = _builder(_name("Yihao Dev Server"), ca[0].subject, key, validity).add_extension(
        x509.SubjectAlternativeName(_host_names(hosts)), critical=False
    )
    cert = _sign_leaf(builder, ExtendedKeyUsageOID.SERVER_AUTH, ca)
    return _cert_pem(cert), _key_pem(key)


def issue_client_cert(
    pki: DevPki,
    credit_code: str,
    name: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca_cert: Path | None = None,
    ca_key: Path | None = None,
) -> tuple[bytes, bytes]:
    """Issue a department's client certificate without writing it; returns (cert, key) PEM.

    Signed by ``pki``'s CA unless ``ca_cert``/``ca_key`` name another one. Validity defaults
    to now (less five minutes of clock skew) for 825 days; pass datetimes to make expired or
    not-yet-valid certificates.
    """
    check_credit_code(credit_code)
    ca = _load_ca(ca_cert or pki.ca_cert(), ca_key or pki.ca_key())
    key = _new_key()
    validity = _validity(not_before, not_after, DEFAULT_VALID_DAYS)
    san = x509.UniformResourceIdentifier(CREDIT_CODE_URI_PREFIX + credit_code)
    builder = _builder(_name(name, credit_code), ca[0].subject, key, validity).add_extension(
        x509.SubjectAlternativeName([san]), critical=False
    )
    cert = _sign_leaf(builder, ExtendedKeyUsageOID.CLIENT_AUTH, ca)
    return _cert_pem(cert), _key_pem(key)


def _missing(*paths: Path) -> bool:
    return not all(path.exists() for path in paths)


def init_dev_pki(
    directory: Path,
    departments: Sequence[tuple[str, str]],
    hosts: Sequence[str] = ("localhost", "127.0.0.1"),
    *,
    force: bool = False,
    valid_days: int = DEFAULT_VALID_DAYS,
) -> DevPki:
    """Create (or complete) a development PKI in ``directory``; see the module docstring.

    Existing files are kept, and only missing certificates are issued by the existing CA.
    With ``force``, or if the CA itself is missing, everything is made anew. ``departments``
    are ``(credit_code, name)`` pairs.
    """
    pki = DevPki(directory)
    for credit_code, _ in departments:
        check_credit_code(credit_code)
    renew = force or _missing(pki.ca_cert(), pki.ca_key())
    if renew:
        ca_days = max(valid_days, CA_MIN_VALID_DAYS)
        _write_pair(pki.ca_cert(), pki.ca_key(), make_ca("Yihao Dev CA", valid_days=ca_days))
    ca = _load_ca(pki.ca_cert(), pki.ca_key())
    if renew or _missing(pki.server_cert(), pki.server_key()):
        pair = _issue_server_cert(ca, hosts, valid_days)
        _write_pair(pki.server_cert(), pki.server_key(), pair)
    for credit_code, name in departments:
        cert, key = pki.client_cert(credit_code), pki.client_key(credit_code)
        if renew or _missing(cert, key):
            not_after = datetime.now(UTC) + timedelta(days=valid_days)
            not_after = min(not_after, ca[0].not_valid_after_utc)
            _write_pair(cert, key, issue_client_cert(pki, credit_code, name, not_after=not_after))
    return pki


REGION_URI_PREFIX = "urn:yihao:region:"


def init_region_identity(
    directory: Path, region: str, hosts: Sequence[str] = ("localhost", "127.0.0.1")
) -> tuple[Path, Path, Path]:
    """A region's federation identity for development and tests, made once in ``directory``:
    its own CA (``ca.crt``, ``ca.key``) and one certificate (``region.crt``, ``region.key``)
    for both ends of federation calls: serverAuth and clientAuth, the region in a URI SAN
    ``urn:yihao:region:<code>`` and the hosts as DNS/IP SANs. Returns (ca, cert, key) paths.
    Never a department's certificate: peers refuse those."""
    ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key = directory / "region.crt", directory / "region.key"
    if _missing(ca_cert, ca_key):
        _write_pair(ca_cert, ca_key, make_ca(f"Yihao Federation CA {region}"))
    if _missing(cert, key):
        _write_pair(cert, key, issue_region_cert(_load_ca(ca_cert, ca_key), region, hosts))
    return ca_cert, cert, key


def issue_region_cert(ca: _Ca, region: str, hosts: Sequence[str]) -> tuple[bytes, bytes]:
    """A region's federation certificate signed by ``ca``; returns (cert, key) PEM."""
    key = _new_key()
    validity = _validity(None, None, DEFAULT_VALID_DAYS)
    validity = validity[0], min(validity[1], ca[0].not_valid_after_utc)
    names = [x509.UniformResourceIdentifier(REGION_URI_PREFIX + region), *_host_names(hosts)]
    builder = _builder(_name(f"Yihao region {region}"), ca[0].subject, key, validity)
    cert = (
        builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca[1], hashes.SHA256())
    )
    return _cert_pem(cert), _key_pem(key)


def load_ca(cert_path: Path, key_path: Path) -> _Ca:
    """A CA's certificate and private key from PEM files (FAILED_PRECONDITION if unusable)."""
    return _load_ca(cert_path, key_path)


def _uri_san_value(cert_pem: bytes, prefix: str) -> str | None:
    """What follows ``prefix`` in the first URI SAN of a PEM certificate that starts with it
    (and has more), else None; None too for input that is not a PEM certificate."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound):
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(prefix) and len(uri) > len(prefix):
            return uri[len(prefix) :]
    return None


@functools.lru_cache(maxsize=256)
def region_from_pem(cert_pem: bytes) -> str | None:
    """The region code in a ``urn:yihao:region:`` URI SAN of a PEM certificate, else None."""
    return _uri_san_value(cert_pem, REGION_URI_PREFIX)


@functools.lru_cache(maxsize=256)
def issued_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    """Whether the certificate ``cert_pem`` was signed by the CA certificate ``ca_pem``."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@functools.lru_cache(maxsize=4096)
def credit_code_from_pem(cert_pem: bytes) -> str | None:
    """The credit code in the first ``urn:uscc:`` URI SAN of a PEM certificate, else None.

    Also None for input that is not a PEM certificate. Cached, as it runs on every RPC.
    """
    return _uri_san_value(cert_pem, CREDIT_CODE_URI_PREFIX)


@functools.lru_cache(maxsize=4096)
def certificate_serial(cert_pem: bytes) -> str:
    """The certificate's serial number in upper-case hex ("" if it is not a certificate)."""
    try:
        return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "X")
    except (ValueError, TypeError):
        return ""
