"""The client's table of demo aliases is the demo catalogue's."""

from __future__ import annotations

from services.licence_store import demo
from yihao_shared.departments import ALIASES, code_of


def test_aliases_are_the_demo_departments_codes() -> None:
    assert {d.alias: d.credit_code for d in demo.DEPARTMENTS} == ALIASES


def test_code_of_an_alias_or_a_code() -> None:
    assert code_of(" Hall ") == demo.ALIASES["hall"]
    assert code_of("91350100m000100y43") == "91350100M000100Y43"
