"""Form helpers: violations by field (the form keys are clients/web/once.py's)."""

from __future__ import annotations

from clients.web.forms import field_errors
from yihao_shared.errors import FieldViolation, InvalidArgument


def test_violations_land_beside_their_fields() -> None:
    error = InvalidArgument(
        violations=[
            FieldViolation("holder.number", "check character is '3', expected '4'"),
            FieldViolation("fields.registered_capital", "not a decimal"),
            FieldViolation("valid_until", "before valid_from"),
        ]
    )
    mapping = {"holder.number": "holder_number", "fields.registered_capital": "capital"}
    assert field_errors(error, mapping) == {
        "holder_number": ["check character is '3', expected '4'"],
        "capital": ["not a decimal"],
        "": ["before valid_from"],
    }
    assert field_errors(error)["valid_until"] == ["before valid_from"]


def test_an_error_without_violations_goes_to_the_page() -> None:
    assert field_errors(InvalidArgument("bad request")) == {"": ["bad request"]}
