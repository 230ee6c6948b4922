"""Settings read from the environment: defaults, overrides, and errors naming the variable."""

from __future__ import annotations

import pytest

from services.common.config import ENVIRONMENT, load_settings
from services.common.errors import InvalidArgument


def test_sqlite_cache_defaults_to_64_mib_and_is_read_from_the_environment():
    assert "YIHAO_SQLITE_CACHE_MB" in ENVIRONMENT
    assert load_settings({}).sqlite_cache_mb == 64
    assert load_settings({"YIHAO_SQLITE_CACHE_MB": "512"}).sqlite_cache_mb == 512


@pytest.mark.parametrize(("raw", "rule"), [("lots", "whole number"), ("0", "between 1 and")])
def test_a_bad_sqlite_cache_size_is_refused_naming_the_variable(raw, rule):
    with pytest.raises(InvalidArgument) as caught:
        load_settings({"YIHAO_SQLITE_CACHE_MB": raw})
    assert "YIHAO_SQLITE_CACHE_MB" in str(caught.value)
    assert rule in str(caught.value)


def test_the_longest_consent_defaults_to_90_days_and_is_read_from_the_environment():
    assert "YIHAO_CONSENT_MAX_DAYS" in ENVIRONMENT
    assert load_settings({}).consent_max_days == 90
    assert load_settings({"YIHAO_CONSENT_MAX_DAYS": "30"}).consent_max_days == 30
    with pytest.raises(InvalidArgument) as caught:
        load_settings({"YIHAO_CONSENT_MAX_DAYS": "0"})
    assert "YIHAO_CONSENT_MAX_DAYS" in str(caught.value)
