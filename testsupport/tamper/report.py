"""The tamper matrix as text: one Markdown table per backend (edits × lifecycle states)."""

from __future__ import annotations

from testsupport.tamper.cases import STATES
from testsupport.tamper.edits import EDITS
from testsupport.tamper.matrix import KEY_EDIT, PHASES, RESTORE_EDIT, Matrix

EDIT_ORDER = (*EDITS, KEY_EDIT, RESTORE_EDIT)


def table(matrix: Matrix) -> str:
    """The matrix of one backend; "—" where an edit does not apply to a state."""
    head = ["edit", "process", *STATES]
    lines = [
        f"**{matrix.backend}** (verdict by VerifyLicence; `running`: the process that had "
        "verified the licence before the edit; `restarted`: the same server started again on "
        "the edited database)",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for edit in EDIT_ORDER:
        for phase in PHASES:
            if not any((edit, s, phase) in matrix.cells for s in STATES):
                continue
            cells = [_cell(matrix, edit, s, phase) for s in STATES]
            lines.append(f"| {edit} | {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(matrix: Matrix, edit: str, state: str, phase: str) -> str:
    cell = matrix.cells.get((edit, state, phase))
    return "—" if cell is None else cell.text()


def summary(matrix: Matrix) -> str:
    """What breaks the invariant, and the rollbacks only the monitor can catch."""
    lines = [f"{matrix.backend}: {len(matrix.violations)} violations"]
    lines += [f"  VIOLATION {v}" for v in matrix.violations]
    lines.append(
        f"{matrix.backend}: {len(matrix.gaps)} answers from a rolled-back state by a process "
        "that never saw the newer one (rollbacks of one licence that left the log alone: `yihao "
        "audit verify` names their entries, the audit monitor the recent ones; see "
        "docs/security.md)"
    )
    lines += [f"  gap {g}" for g in matrix.gaps]
    return "\n".join(lines)
