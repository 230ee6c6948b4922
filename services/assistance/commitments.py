"""Notification-commitments (告知承诺): an applicant's promise that they hold a valid licence,
recorded by a department and later checked against the licence store.

:class:`CommitmentBook` is a part of :class:`~services.assistance.service.AssistanceService`
(which supplies the database, reader, clock and vault), kept apart by use case.
"""

from __future__ import annotations

from datetime import datetime

from services.assistance.domain.answers import answered_status
from services.assistance.domain.commitments import (
    Commitment,
    CommitmentStatus,
    new_commitment_id,
)
from services.assistance.persistence import repository as repo
from services.common.clock import Clock, china_date
from services.common.database import Database
from services.common.dates import parse_date
from services.common.errors import InvalidArgument
from services.common.holder_vault import HolderVault
from services.common.identifiers import parse_holder_number, validate_licence_type_code
from services.common.identity import Caller
from services.licence_store.domain.catalogue import check_text
from services.licence_store.domain.effective import Effective
from services.licence_store.reader import LicenceReader

__all__ = ["CommitmentBook"]


class CommitmentBook:
    """Record, list and check notification-commitments."""

    db: Database
    reader: LicenceReader
    clock: Clock
    vault: HolderVault

    def _is_supervisor(self, caller: Caller) -> bool:
        raise NotImplementedError

    def _is_admin(self, caller: Caller) -> bool:
        raise NotImplementedError

    def record_commitment(
        self,
        caller: Caller,
        applicant_number: str,
        applicant_name: str,
        licence_type_code: str,
        case_number: str,
        check_by: str,
    ) -> Commitment:
        """Record an applicant's commitment that they hold a valid licence of a type."""
        applicant = parse_holder_number(applicant_number, "applicant_number")
        type_code = validate_licence_type_code(licence_type_code, "licence_type_code")
        self.reader.licence_type(type_code)
        due = parse_date(check_by.strip(), "check_by")
        now = self.clock.now()
        if due < china_date(now):
            raise InvalidArgument.field("check_by", f"{due} is in the past", "PAST_DATE")
        commitment = Commitment(
            commitment_id=new_commitment_id(now),
            department_code=caller.code,
            applicant=applicant,
            applicant_name=check_text(applicant_name, "applicant_name", 200, required=False),
            licence_type_code=type_code,
            case_number=check_text(case_number, "case_number", 64),
            check_by=due,
            recorded_at=now,
        )
        with self.db.transaction() as conn:
            repo.insert_commitment(conn, commitment, self.vault)
        return commitment

    def commitments(
        self, status: CommitmentStatus | None, viewer: Caller | None = None
    ) -> list[Commitment]:
        """Commitments, optionally of one status; a non-supervisor viewer sees only its own."""
        with self.db.read() as conn:
            found = repo.list_commitments(conn, self.vault, status)
        if viewer is None or self._is_supervisor(viewer) or self._is_admin(viewer):
            return found
        return [c for c in found if c.department_code == viewer.code]

    def check_commitments(self) -> list[Commitment]:
        """Compare every pending commitment with the store; the ones that changed."""
        now = self.clock.now()
        changed = []
        for c in self.commitments(CommitmentStatus.PENDING):
            holds, why = self._holds(c, now)
            if c.check(holds, why, now):
                changed.append(c)
        if changed:
            with self.db.transaction() as conn:
                repo.update_commitments(conn, changed, self.vault)
        return changed

    def _holds(self, c: Commitment, now: datetime) -> tuple[bool, str]:
        licences = self.reader.holder_licences(c.applicant, [c.licence_type_code])
        valid = [s for s in licences if answered_status(s, now) == Effective.VALID.value]
        if valid:
            return True, f"holds valid licence {valid[0].signed.licence_id}"
        if licences:
            states = ", ".join(sorted({answered_status(s, now) for s in licences}))
            return False, f"holds the licence type but none is valid ({states})"
        return False, "holds no licence of this type"
