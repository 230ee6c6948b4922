"""The tamper suite: edits of the database a verdict is read from, against a running server on
SQLite and PostgreSQL (testsupport/tamper; ``python -m testsupport.tamper`` prints the matrix).

No answer may be VALID for a licence its issuer's latest act withdrew or changed, nor the
state an edit wrote. The one exception is written down, not hidden: a consistent rollback of
one licence to an older, genuinely signed state (its rows and statements deleted together, an
older copy of its rows put back) that leaves the log alone, answered by a process that never
verified the newer statements — `audit verify` names it; the process that had seen the newer
statements refuses (STATUS_ROLLED_BACK). The whole database restored from an earlier copy is
refused by the restarted server itself (its log is behind the head it kept outside).
"""

from __future__ import annotations

import pytest

from testsupport import availability
from testsupport.tamper.cases import STATES
from testsupport.tamper.edits import EDITS
from testsupport.tamper.matrix import KEY_EDIT, REFUSED, RESTORE_EDIT, ROLLBACKS, Matrix, run
from testsupport.tamper.report import summary, table


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def matrix(request: pytest.FixtureRequest) -> Matrix:
    if request.param == "postgresql":
        availability.require(availability.POSTGRESQL)
    return run(request.param)


def test_no_edit_makes_a_withdrawn_or_changed_licence_valid(matrix: Matrix) -> None:
    assert matrix.violations == [], summary(matrix)


def test_only_rollbacks_fool_a_process_that_never_saw_the_newer_statements(
    matrix: Matrix,
) -> None:
    assert matrix.gaps, "the restored copy should fool a fresh process: the matrix says so"
    assert all(" restarted " in g and any(r in g for r in ROLLBACKS) for g in matrix.gaps)


def test_every_edit_and_state_was_tried(matrix: Matrix) -> None:
    for edit in (*EDITS, KEY_EDIT):
        for phase in ("running", "restarted"):
            tried = [matrix.cells.get((edit, s, phase)) for s in STATES]
            assert any(tried), (edit, phase)
    assert all((RESTORE_EDIT, s, "restarted") in matrix.cells for s in STATES)
    assert "| licences.status updated | running |" in table(matrix)


def test_the_process_that_saw_the_newer_statements_refuses_a_rollback(matrix: Matrix) -> None:
    for edit in ROLLBACKS - {RESTORE_EDIT}:
        for state in ("suspended", "revoked", "cancelled"):
            cell = matrix.cells[(edit, state, "running")]
            assert cell is not None and cell.reason == "STATUS_ROLLED_BACK", (edit, state)


def test_a_server_restarted_on_an_earlier_copy_refuses_every_question(matrix: Matrix) -> None:
    """The signed head it kept outside the database at its last stop covers the acts the
    copy lacks: it fails closed (services.common.trusted_head), never answering from it."""
    for state in STATES:
        cell = matrix.cells[(RESTORE_EDIT, state, "restarted")]
        assert cell is not None, state
        assert (cell.verdict, cell.reason) == (REFUSED, "LOG_BEHIND_TRUSTED_HEAD"), state
