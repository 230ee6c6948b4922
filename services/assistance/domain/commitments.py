"""Notification-commitment (告知承诺制): act on the applicant's word now, check it later.

A commitment says "this applicant holds a valid licence of type X" for a case; a scheduled
check compares it with the store: kept as soon as it holds, broken if it still does not hold
once its check-by date has passed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from services.common.clock import china_date
from services.common.identifiers import HolderNumber
from services.common.ids import time_ordered_id


class CommitmentStatus(enum.Enum):
    """Where a commitment stands."""

    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"


def new_commitment_id(at: datetime) -> str:
    """``C`` + the instant (China time) + 64 random bits; sorts by time."""
    return time_ordered_id("C", at)


@dataclass
class Commitment:
    """One recorded commitment and what its checks found."""

    commitment_id: str
    department_code: str
    applicant: HolderNumber
    applicant_name: str
    licence_type_code: str
    case_number: str
    check_by: date
    recorded_at: datetime
    status: CommitmentStatus = CommitmentStatus.PENDING
    checked_at: datetime | None = None
    outcome: str = ""

    def check(self, holds: bool, why: str, at: datetime) -> bool:
        """Record a check; True when the status changed."""
        if self.status is not CommitmentStatus.PENDING:
            return False
        self.checked_at = at
        if holds:
            self.status, self.outcome = CommitmentStatus.KEPT, why
            return True
        if china_date(at) > self.check_by:
            self.status = CommitmentStatus.BROKEN
            self.outcome = f"{why}; check-by date {self.check_by} has passed"
            return True
        self.outcome = why
        return False
