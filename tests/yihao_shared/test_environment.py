"""The client's settings, and the one registry of environment variables."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.config import ENVIRONMENT, load_settings
from yihao_shared.environment import (
    CLIENT_ENVIRONMENT,
    DEFAULT_ADDRESS,
    ClientSettings,
    load_client_settings,
)

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"\"((?:YIHAO_[A-Z0-9_]+)|DATABASE_URL|REDIS_URL)\"")


def test_client_settings_default_and_from_the_environment() -> None:
    assert load_client_settings({}) == ClientSettings()
    read = load_client_settings(
        {"YIHAO_ADDRESS": "yihao.example:443", "YIHAO_AS": "hall", "YIHAO_DEBUG": "1"}
    )
    assert (read.address, read.as_department, read.debug) == ("yihao.example:443", "hall", True)
    assert not load_client_settings({"YIHAO_DEBUG": ""}).debug


def test_the_default_address_is_where_the_server_listens() -> None:
    assert load_settings({}).listen == load_client_settings({}).address == DEFAULT_ADDRESS


def test_the_server_registry_lists_the_client_variables() -> None:
    assert {"YIHAO_ADDRESS", "YIHAO_AS", "YIHAO_DEBUG"} <= set(CLIENT_ENVIRONMENT)
    assert CLIENT_ENVIRONMENT.items() <= ENVIRONMENT.items()


def test_every_variable_the_code_names_is_in_the_registry() -> None:
    named = {
        match
        for package in ("services", "clients", "yihao_shared")
        for path in (ROOT / package).rglob("*.py")
        for match in _NAME.findall(path.read_text(encoding="utf-8"))
    }
    assert len(named) > 20, named  # the scan found them
    assert sorted(named - set(ENVIRONMENT)) == []
