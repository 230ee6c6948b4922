"""The demo departments' aliases (``--as market``), for the command line and the demo catalogue.

The demo catalogue (:mod:`services.licence_store.demo`) registers these departments under
these credit codes; the client ships the table so that ``--as hall`` works without the server.
"""

from __future__ import annotations

__all__ = ["ALIASES", "code_of"]

#: Demo alias -> unified social credit code.
ALIASES: dict[str, str] = {
    "data": "11350100518190937A",
    "market": "1135010052601815X2",
    "civil": "113501009083016632",
    "police": "11350100131860916B",
    "hrss": "113501003909960333",
    "housing": "11350100082462814Q",
    "education": "11350100948219939R",
    "hall": "11350100786579754C",
    "portal": "113501004323194882",
    "supervision": "1135010075749118XX",
}


def code_of(alias_or_code: str) -> str:
    """The credit code for a demo alias, or the argument itself when it is not an alias."""
    return ALIASES.get(alias_or_code.strip().lower(), alias_or_code.strip().upper())
