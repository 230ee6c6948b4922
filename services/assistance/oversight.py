"""Supervision's reads of the assistance service: alerts, per-provider figures and the overdue,
the calendar's warning, and a holder's access records (a base of
:class:`~services.assistance.service.AssistanceService`, as
:class:`~services.assistance.commitments.CommitmentBook` is)."""

from __future__ import annotations

from collections.abc import Sequence

from services.assistance.access_records import access_page
from services.assistance.domain import supervision
from services.assistance.domain.calendar import WorkingCalendar
from services.assistance.domain.commitments import Commitment, CommitmentStatus
from services.assistance.domain.requests import AssistanceRequest, Outcome, RequestStatus
from services.assistance.persistence import repository as repo
from services.assistance.request_checks import china_day_start
from services.common.access_log import AccessRecord
from services.common.alerts import AlertLog
from services.common.clock import Clock, china_date
from services.common.database import Database
from services.common.errors import InvalidArgument
from services.common.holder_vault import HolderVault
from services.common.identity import Caller
from services.common.match_budget import Alert
from services.common.paging import page_size


class Oversight:
    """Supervision's figures and alerts, and access records, over the service's database."""

    db: Database
    clock: Clock
    vault: HolderVault
    calendar: WorkingCalendar

    def _is_holder_portal(self, caller: Caller) -> bool:
        raise NotImplementedError

    def alerts(self, submitted_from: str = "", submitted_to: str = "") -> list[Alert]:
        """Supervision alerts (holder matching refused: a MISMATCH budget spent) of the days
        reported on (China dates, inclusive; empty = unbounded), oldest first."""
        start = china_day_start(submitted_from, "submitted_from")  # as supervise reads them
        end = china_day_start(submitted_to, "submitted_to")
        first = start.date() if start is not None else None
        last = end.date() if end is not None else None
        return AlertLog(self.db).between(first, last)

    def supervise(
        self,
        codes: Sequence[str],
        submitted_from: str = "",
        submitted_to: str = "",
        max_overdue: int = 0,
    ) -> tuple[list[supervision.Figures], list[AssistanceRequest], list[Commitment]]:
        """Per-provider figures over the requests submitted in the period (China dates,
        inclusive; empty = unbounded), the most overdue pending requests (of any period) and
        broken commitments, now."""
        now = self.clock.now()
        start = china_day_start(submitted_from, "submitted_from")
        end = china_day_start(submitted_to, "submitted_to", next_day=True)
        if start is not None and end is not None and end <= start:
            raise InvalidArgument.field(
                "submitted_to", "is before submitted_from", "PERIOD_REVERSED"
            )
        limit = page_size(max_overdue, 100, 1000, "max_overdue")
        with self.db.read() as conn:
            outcomes = repo.request_outcomes(conn, codes, start, end)
            overdue = repo.list_requests(
                conn,
                status=RequestStatus.PENDING,
                providers=codes,
                deadline_before=now,
                by_deadline=True,
                limit=limit,
                vault=self.vault,
            )
            broken = repo.list_commitments(conn, self.vault, CommitmentStatus.BROKEN)
        by_provider: dict[str, list[Outcome]] = {code: [] for code in codes}
        for outcome in outcomes:
            by_provider.setdefault(outcome.provider_code, []).append(outcome)
        figures = [
            supervision.figures(p, by_provider[p], now, self.calendar) for p in sorted(by_provider)
        ]
        return figures, overdue, broken

    def calendar_warning(self) -> str:
        """The working-day calendar's year-end warning today (empty when there is none)."""
        return self.calendar.coverage_warning(china_date(self.clock.now())) or ""

    # ------------------------------------------------------------------------ access records

    def access_records(
        self,
        holder_number: str,
        size: int,
        token: str,
        *,
        caller: Caller | None = None,
        purpose: str = "",
        case_number: str = "",
    ) -> tuple[list[AccessRecord], str]:
        """A holder's access records, newest first: to the holder portal, or to a supervisor
        stating a purpose and a case (its read recorded first; see :mod:`.access_records`)."""
        portal = caller is None or self._is_holder_portal(caller)
        return access_page(
            self.db,
            self.vault,
            self.clock.now(),
            holder_number,
            size,
            token,
            supervisor=None if portal else caller,
            purpose=purpose,
            case_number=case_number,
        )
