"""The fast path's values made without NamedTuple's ``__new__`` are the values the
constructors make: same type, every field in its place."""

from __future__ import annotations

from services.common.identifiers import HolderKind, HolderNumber
from services.verifier.batch import Prepared
from services.verifier.domain.verdict import HolderMatch, not_found
from services.verifier.results import Answer, Asked, new_answer, new_asked, new_tuple


def test_new_asked_is_asked_by_licence_id():
    made = new_asked("id", "number", "name", "purpose", "case", "ref")
    expected = Asked(
        "id",
        holder_number="number",
        holder_name="name",
        purpose="purpose",
        case_number="case",
        client_ref="ref",
    )
    assert type(made) is Asked and made == expected and made._asdict() == expected._asdict()
    assert (made.as_of, made.by_number, made.refused) == (None, False, None)


def test_new_answer_is_an_answer_without_refusal():
    asked = new_asked("id", "", "", "", "", "")
    holder = HolderNumber(HolderKind.ORGANISATION, "91350100M000100Y43")
    args = (asked, holder, not_found(), HolderMatch.MATCH, HolderMatch.NOT_PRESENTED, None, "R1")
    made = new_answer(*args, ("type", "issuer"))
    expected = Answer(*args, ("type", "issuer"))
    assert type(made) is Answer and made._asdict() == expected._asdict()
    assert made.refusal == "" and made.checks == expected.checks


def test_new_tuple_makes_a_prepared():
    asked = new_asked("id", "", "", "", "", "")
    made = new_tuple(Prepared, (asked, None, ("t", "n"), None))
    assert (
        type(made) is Prepared
        and made._asdict() == Prepared(asked, None, ("t", "n"), None)._asdict()
    )
