"""The desk's settings and its account store."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.web.accounts import AccountStore
from clients.web.config import load_web_settings
from clients.web.db import open_database
from clients.web.viewmodels import Label, mask_number
from tests.clients.web.conftest import FAST_HASHER
from yihao_shared.errors import AlreadyExists, InvalidArgument, NotFound


def test_defaults() -> None:
    settings = load_web_settings({})
    assert settings.listen == "127.0.0.1:8080"
    assert settings.db_url == "sqlite:///var/web.db"
    assert settings.idle_seconds == 1800 and settings.absolute_seconds == 36000
    assert (settings.lockout_failures, settings.lockout_seconds) == (5, 900)
    assert not settings.cookie_secure and not settings.dev
    assert settings.import_max_bytes == 20 * 2**20


def test_the_environment_is_read() -> None:
    settings = load_web_settings(
        {
            "YIHAO_VAR_DIR": "/srv/yihao",
            "YIHAO_ADDRESS": "verifier:50051",
            "YIHAO_WEB_LISTEN": "0.0.0.0:9000",
            "YIHAO_WEB_DEPARTMENTS": "hall, police",
            "YIHAO_WEB_IDLE_MINUTES": "5",
            "YIHAO_WEB_SESSION_HOURS": "2",
            "YIHAO_WEB_LOCKOUT_FAILURES": "3",
            "YIHAO_WEB_LOCKOUT_MINUTES": "10",
            "YIHAO_WEB_SECURE_COOKIES": "1",
            "YIHAO_WEB_DEV": "yes",
            "YIHAO_WEB_IMPORT_MAX_BYTES": "1048576",
        }
    )
    assert settings.import_max_bytes == 2**20
    assert settings.db_url == "sqlite:////srv/yihao/web.db"
    assert settings.address == "verifier:50051" and settings.departments == ("hall", "police")
    assert (settings.idle_seconds, settings.absolute_seconds) == (300, 7200)
    assert (settings.lockout_failures, settings.lockout_seconds) == (3, 600)
    assert settings.cookie_secure and settings.dev


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("YIHAO_WEB_LISTEN", "8080", "HOST:PORT"),
        ("YIHAO_WEB_IDLE_MINUTES", "soon", "not a number"),
        ("YIHAO_WEB_LOCKOUT_FAILURES", "0", "at least 1"),
        ("YIHAO_WEB_DEV", "maybe", "not a flag"),
        ("YIHAO_WEB_TLS_KEY", "", "go together"),
        ("YIHAO_WEB_IMPORT_MAX_BYTES", "20MiB", "not a whole number of bytes"),
        ("YIHAO_WEB_IMPORT_MAX_BYTES", "-5", "not a whole number of bytes"),
        ("YIHAO_WEB_IMPORT_MAX_BYTES", "0", "must be between 1 and 67108864"),
        ("YIHAO_WEB_IMPORT_MAX_BYTES", "67108865", "the desk's request-body limit"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_rule(name, value, words) -> None:
    env = {name: value}
    if name == "YIHAO_WEB_TLS_KEY":
        env = {"YIHAO_WEB_TLS_CERT": "/etc/desk.crt"}
    with pytest.raises(InvalidArgument) as caught:
        load_web_settings(env)
    assert caught.value.violations[0].field == name
    assert words in caught.value.violations[0].description


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    return AccountStore(open_database(f"sqlite:///{tmp_path / 'web.db'}"), FAST_HASHER)


def test_an_account_is_added_listed_disabled(store) -> None:
    added = store.add("wang.fang", "王芳", "hall", ["handler", "handler"], "long-enough-1", now=1)
    assert added.department == "11350100786579754C" and added.roles == ("handler",)
    assert [a.account_id for a in store.list()] == ["wang.fang"]
    assert store.check_password("wang.fang", "long-enough-1") == added
    assert store.check_password("wang.fang", "long-enough-2") is None
    assert store.check_password(None, "long-enough-1") is None
    assert store.set_disabled("wang.fang").disabled
    with pytest.raises(AlreadyExists):
        store.add("wang.fang", "王芳", "hall", ["handler"], "long-enough-1", now=1)
    with pytest.raises(NotFound):
        store.set_disabled("nobody")


def test_every_bad_field_of_a_new_account_is_named(store) -> None:
    with pytest.raises(InvalidArgument) as caught:
        store.add("Bad Id!", " ", "nowhere", ["king"], "short", now=1)
    fields = [v.field for v in caught.value.violations]
    assert fields == ["account", "display_name", "department", "roles", "password"]


def test_numbers_not_typed_are_masked() -> None:
    assert mask_number("11010519491231002X") == "110105********002X"
    assert mask_number("11010519491231002X", typed=True) == "11010519491231002X"
    assert mask_number("12345") == "*****"
    assert str(Label("有效", "valid")) == "有效 valid"
