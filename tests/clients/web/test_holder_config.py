"""The holder page's settings (YIHAO_WEB_HOLDER_*): read, defaulted, and refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.web.config import load_web_settings
from yihao_shared.errors import InvalidArgument


def test_defaults_and_values() -> None:
    settings = load_web_settings({})
    assert settings.holder_portal == "portal" and settings.holder_idp_keys is None
    assert (settings.holder_audience, settings.holder_qr_seconds) == ("yihao-web", 90)
    settings = load_web_settings(
        {
            "YIHAO_WEB_HOLDER_PORTAL": "113501004323194882",
            "YIHAO_WEB_HOLDER_IDP_KEYS": "/etc/yihao/idp.json",
            "YIHAO_WEB_HOLDER_IDP_ISSUER": "https://id.mzt.example.gov.cn",
            "YIHAO_WEB_HOLDER_IDP_URL": "https://id.mzt.example.gov.cn/authorize",
            "YIHAO_WEB_HOLDER_AUDIENCE": "desk-fz",
            "YIHAO_WEB_HOLDER_QR_SECONDS": "60",
        }
    )
    assert settings.holder_portal == "113501004323194882"
    assert settings.holder_idp_keys == Path("/etc/yihao/idp.json")
    assert settings.holder_idp_issuer == "https://id.mzt.example.gov.cn"
    assert settings.holder_idp_url == "https://id.mzt.example.gov.cn/authorize"
    assert (settings.holder_audience, settings.holder_qr_seconds) == ("desk-fz", 60)


_IDP = {"YIHAO_WEB_HOLDER_IDP_KEYS": "/k.json", "YIHAO_WEB_HOLDER_IDP_ISSUER": "x"}


def test_a_loopback_provider_may_speak_http() -> None:
    url = "http://127.0.0.1:9000/authorize"
    assert load_web_settings({**_IDP, "YIHAO_WEB_HOLDER_IDP_URL": url}).holder_idp_url == url


@pytest.mark.parametrize(
    ("env", "name", "words"),
    [
        ({"YIHAO_WEB_HOLDER_QR_SECONDS": "10"}, "YIHAO_WEB_HOLDER_QR_SECONDS", "at least 30"),
        ({"YIHAO_WEB_HOLDER_QR_SECONDS": "600"}, "YIHAO_WEB_HOLDER_QR_SECONDS", "at most 120"),
        ({"YIHAO_WEB_HOLDER_IDP_KEYS": "/k.json"}, "YIHAO_WEB_HOLDER_IDP_ISSUER", "together"),
        ({"YIHAO_WEB_HOLDER_IDP_ISSUER": "x"}, "YIHAO_WEB_HOLDER_IDP_KEYS", "together"),
        (
            {"YIHAO_WEB_HOLDER_IDP_KEYS": "/k.json", "YIHAO_WEB_HOLDER_IDP_ISSUER": "x"},
            "YIHAO_WEB_HOLDER_IDP_URL",
            "together",
        ),
        ({"YIHAO_WEB_HOLDER_IDP_URL": "id.example/authorize"}, "YIHAO_WEB_HOLDER_IDP_URL", "https"),
        ({"YIHAO_WEB_HOLDER_IDP_URL": "http://id.example/a"}, "YIHAO_WEB_HOLDER_IDP_URL", "https"),
        ({"YIHAO_WEB_HOLDER_IDP_URL": "https://id.example/#x"}, "YIHAO_WEB_HOLDER_IDP_URL", "#"),
    ],
)
def test_a_bad_value_names_the_variable(env, name, words) -> None:
    with pytest.raises(InvalidArgument) as caught:
        load_web_settings(env)
    assert caught.value.violations[0].field == name
    assert words in caught.value.violations[0].description
