"""Holder matching under a budget: every answer that would say MATCH or MISMATCH about a
licence goes through :class:`MatchGuard` before its receipt is sealed.

Answers about a licence for which the department has spent today's MISMATCH budget (for the
licence or for its holder) say REFUSED with the reason ``MISMATCH_BUDGET_EXHAUSTED``, never
MATCH or MISMATCH; every MISMATCH answered is counted. The verdict itself (status, validity,
signature) is still answered: it says nothing about who holds the licence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from services.common.holder_vault import HolderVault
from services.common.match_budget import BUDGET_EXHAUSTED, MatchBudget, Subject
from services.common.metrics import NO_METRICS, Metrics
from services.verifier.domain.verdict import HolderMatch
from services.verifier.results import Answer, Result
from services.verifier.vetting import Vetted

ASKED: Final = (HolderMatch.MATCH, HolderMatch.MISMATCH)
SUBJECTS_MEMO_SIZE: Final = 100_000


class MatchGuard:
    """Applies a department's MISMATCH budget to a chunk of answers."""

    def __init__(
        self, budget: MatchBudget, vault: HolderVault, metrics: Metrics = NO_METRICS
    ) -> None:
        self.budget = budget
        self.vault = vault
        self.metrics = metrics
        #: A memo entry's subject, made once per checked version (not per question).
        self._subjects: dict[Vetted, Subject] = {}

    def apply(self, dept: str, answers: list[Answer | Result]) -> list[Answer | Result]:
        """``answers`` with holder matching refused where the budget is spent (in place)."""
        asked: list[tuple[int, Subject]] = []
        for i, a in enumerate(answers):
            if a.number_match in ASKED or a.name_match in ASKED:
                subject = self._subject(a)
                if subject is not None:
                    asked.append((i, subject))
        if not asked:
            return answers
        spent = self.budget.exhausted(dept, [s for _, s in asked])
        # Spent during this chunk too: a later MATCH in the same chunk must not slip through.
        gone = {k for (_, s), done in zip(asked, spent, strict=True) if done for k in _keys(s)}
        refusals = 0
        for i, subject in asked:
            a = answers[i]
            if gone and (subject.licence_tail in gone or subject.holder_tail in gone):
                answers[i] = refused(a)
                refusals += 1
            elif a.number_match is HolderMatch.MISMATCH or a.name_match is HolderMatch.MISMATCH:
                left = self.budget.spend(dept, subject)
                if left < 0:
                    answers[i] = refused(a)
                    refusals += 1
                if left <= 0:
                    gone.update(_keys(subject))
        if refusals:
            self.metrics.match_refused(dept, refusals)
        return answers

    def _subject(self, a: Answer | Result) -> Subject | None:
        """What a holder match in ``a`` is about (None: no licence)."""
        if isinstance(a, Answer):
            v = a.vetted
            if v is None:
                return None
            subject = self._subjects.get(v)
            if subject is None:
                if len(self._subjects) >= SUBJECTS_MEMO_SIZE:
                    self._subjects.clear()
                subject = self._subjects[v] = _subject(v.licence_id, v.holder_index)
            return subject
        if a.stored is None:
            return None
        return _subject(a.stored.signed.licence_id, self.vault.index(a.stored.licence.holder))


def _keys(subject: Subject) -> tuple[str, str]:
    return (subject.licence_tail, subject.holder_tail)


def _subject(licence_id: str, holder_index: str) -> Subject:
    licence = licence_id.rsplit(".", 2)[0]  # every version of the licence is one subject
    return Subject(licence, holder_index, f"licence {licence_id}", f"holder #{holder_index[:12]}")


def refused(a: Answer | Result) -> Answer | Result:
    """``a`` with its holder matches refused (what was not presented stays so)."""
    number = HolderMatch.REFUSED if a.number_match in ASKED else a.number_match
    name = HolderMatch.REFUSED if a.name_match in ASKED else a.name_match
    if isinstance(a, Answer):
        return a._replace(number_match=number, name_match=name, refusal=BUDGET_EXHAUSTED)
    return replace(a, number_match=number, name_match=name, refusal=BUDGET_EXHAUSTED)


def count_presented(items: Sequence[tuple[str, str]]) -> int:
    """How many items present a holder number or name (each is a holder-match question)."""
    return sum(1 for number, name in items if number.strip() or name.strip())
