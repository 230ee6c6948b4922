"""ClientConfig and connect(): the dev PKI layout, and a real mutual-TLS call."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients import ClientConfig, YihaoClient, connect
from clients.connection import DEFAULT_ADDRESS, DEFAULT_TIMEOUT
from clients.retry import NO_RETRY
from services.common.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.licence_store.demo import ALIASES

MARKET = ALIASES["market"]


def test_defaults_and_environment(monkeypatch) -> None:
    monkeypatch.delenv("YIHAO_ADDRESS", raising=False)
    assert ClientConfig().address == DEFAULT_ADDRESS == "127.0.0.1:50051"
    assert ClientConfig().timeout == DEFAULT_TIMEOUT == 10.0
    monkeypatch.setenv("YIHAO_ADDRESS", "yihao.example:443")
    assert ClientConfig().address == "yihao.example:443"


def test_for_department_uses_the_dev_pki_layout(var_dir: Path) -> None:
    config = ClientConfig.for_department("market", var_dir, timeout=3)
    pki = var_dir / "pki"
    assert (config.ca, config.cert, config.key) == (
        pki / "ca.crt",
        pki / "clients" / f"{MARKET}.crt",
        pki / "clients" / f"{MARKET}.key",
    )
    assert config.credit_code == MARKET
    assert config.timeout == 3
    assert ClientConfig.for_department(MARKET.lower(), var_dir).cert == config.cert


def test_for_department_reads_var_dir_from_the_environment(var_dir, monkeypatch) -> None:
    monkeypatch.setenv("YIHAO_VAR_DIR", str(var_dir))
    assert ClientConfig.for_department("market").ca == var_dir / "pki" / "ca.crt"


def test_missing_files_name_the_file_and_the_remedy(tmp_path: Path, var_dir: Path) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        ClientConfig.for_department("market", tmp_path)
    assert str(tmp_path / "pki" / "ca.crt") in caught.value.message
    assert "yihao pki init" in caught.value.message
    with pytest.raises(FailedPrecondition) as caught:
        ClientConfig.for_department("police", var_dir)  # no certificate issued for police
    assert "clients/11350100131860916B.crt" in caught.value.message


def test_a_department_code_must_be_a_plausible_file_name(var_dir) -> None:
    with pytest.raises(InvalidArgument):
        ClientConfig.for_department("../../etc/passwd", var_dir)


def test_connect_speaks_mutual_tls(var_dir, tls_address) -> None:
    config = ClientConfig.for_department("market", var_dir, address=tls_address)
    with YihaoClient(config) as client:
        assert client.ping(payload="你好").payload == "你好"
    localhost = tls_address.replace("127.0.0.1", "localhost")
    with connect(ClientConfig.for_department("market", var_dir, address=localhost)) as channel:
        channel.unary_unary("/yihao.v1.Diagnostics/Ping")(b"", timeout=5)


def test_wrong_server_name_fails_the_handshake(var_dir, tls_address) -> None:
    config = ClientConfig.for_department("market", var_dir, address=tls_address)
    renamed = ClientConfig(
        address=tls_address,
        ca=config.ca,
        cert=config.cert,
        key=config.key,
        server_name="elsewhere.example",
    )
    with YihaoClient(renamed, retry=NO_RETRY) as client, pytest.raises(Unavailable) as caught:
        client.ping(timeout=5)
    assert "verification" in caught.value.message.lower()


def test_cert_without_key_is_refused(var_dir) -> None:
    config = ClientConfig.for_department("market", var_dir)
    with pytest.raises(FailedPrecondition):
        connect(ClientConfig(ca=config.ca, cert=config.cert))
