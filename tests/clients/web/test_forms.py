"""Form helpers: idempotency keys per rendered form, violations by field."""

from __future__ import annotations

from clients.web.forms import field_errors, form_key, read_form_key
from yihao_shared.errors import FieldViolation, InvalidArgument


def test_each_rendered_form_gets_its_own_key_and_only_such_keys_are_read() -> None:
    first, second = form_key(), form_key()
    assert first != second and read_form_key(first) == first
    for bad in (None, "", "x" * 32, first.upper(), first + "0", 12):
        assert read_form_key(bad) is None


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
