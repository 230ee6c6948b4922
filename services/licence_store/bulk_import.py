"""Bulk import: a stream of issue commands, taken a batch at a time, each record accepted,
a duplicate (its idempotency key seen before, same body) or rejected on its own."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from services.common.errors import AlreadyExists, DeadlineExceeded, Unavailable, YihaoError
from services.common.identity import Caller
from services.common.metrics import NO_METRICS, Metrics
from services.common.notify import ChangeNotifier
from services.licence_store.domain.catalogue import LicenceType
from services.licence_store.domain.licence import Licence
from services.licence_store.domain.statements import statements_of_acts
from services.licence_store.lifecycle import (
    IssueCommand,
    Lifecycle,
    check_idempotency_key,
    number_taken,
    reused_message,
)
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence import statements as status_repo
from services.licence_store.persistence.repository import IdempotencyRecord
from services.licence_store.use_case import StoreParts, UseCase


@dataclass(frozen=True)
class ImportOutcome:
    """What happened to one record of a bulk import."""

    line: int
    outcome: str  # "accepted" | "duplicate" | "rejected"
    licence_id: str = ""
    reason_code: str = ""
    reason: str = ""


class Importer(UseCase):
    """Imports batches of issue commands for one caller at a time."""

    def __init__(
        self,
        parts: StoreParts,
        notifier: ChangeNotifier,
        lifecycle: Lifecycle,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        super().__init__(parts)
        self.notifier = notifier
        self.lifecycle = lifecycle
        self.metrics = metrics

    def import_batch(
        self, caller: Caller, records: Sequence[tuple[int, IssueCommand | YihaoError]]
    ) -> list[ImportOutcome]:
        """Import a batch: each record accepted, duplicate or rejected on its own."""
        try:
            outcomes = self._import_together(caller, records)
        except AlreadyExists:
            # Another writer raced us on a key or number: take the records one at a time.
            outcomes = [self._import_one(caller, line, cmd) for line, cmd in records]
        if any(o.outcome == "accepted" for o in outcomes):
            self.notifier.notify()
        self.metrics.imported(o.outcome for o in outcomes)
        return outcomes

    def _import_one(
        self, caller: Caller, line: int, cmd: IssueCommand | YihaoError
    ) -> ImportOutcome:
        try:
            if isinstance(cmd, YihaoError):
                raise cmd
            with self.db.read() as conn:
                prior = repo.get_idempotency(conn, caller.code, cmd.idempotency_key)
            view = self.lifecycle.issue(caller, cmd)
        except TRANSIENT:
            raise  # not the record's fault: the batch is retried whole
        except YihaoError as exc:
            return ImportOutcome(line, "rejected", reason_code=exc.reason, reason=str(exc))
        outcome = "duplicate" if prior is not None else "accepted"
        return ImportOutcome(line, outcome, licence_id=view.stored.signed.licence_id)

    def _import_together(
        self, caller: Caller, records: Sequence[tuple[int, IssueCommand | YihaoError]]
    ) -> list[ImportOutcome]:
        plan = _ImportPlan(records, self.lifecycle.keyed)
        types: dict[str, LicenceType | None] = {}

        def licence_type_of(code: str) -> LicenceType | None:
            if code not in types:  # one catalogue snapshot for the whole batch
                types[code] = self.cache.licence_type(code)
            return types[code]

        for i, (_line, cmd) in enumerate(records):
            plan.validate(i, cmd, lambda c: self.lifecycle.new_licence(caller, c, licence_type_of))
        with self.db.transaction() as conn:
            plan.resolve_existing(conn, caller.code)
            key = self.keyring.signing_key(conn, caller.code)
            batch = [
                (lic, self.lifecycle.sign(conn, lic, key)) for lic in plan.licences_to_insert()
            ]
            acts = [
                s
                for lic, sv in batch
                for s in statements_of_acts(None, lic, sv.content_sha256, key)
            ]
            repo.insert_licences(conn, batch, self.codec)
            status_repo.insert_statements(conn, acts)
            repo.put_idempotency(conn, caller.code, plan.idempotency_records(), self.clock.now())
        return plan.outcomes()


#: Failures of the store, not of a record: an import batch meeting one fails whole (the
#: client retries it) rather than answering its records REJECTED. A catalogue reload during
#: a PostgreSQL restart had rejected every record of a batch as DATABASE_UNAVAILABLE.
TRANSIENT = (Unavailable, DeadlineExceeded)


class _ImportPlan:
    """Works out, for a batch of import records, which to insert and what to answer.

    Records are known by their position in the batch: line numbers come from the caller and
    need not be unique.
    """

    def __init__(
        self,
        records: Sequence[tuple[int, IssueCommand | YihaoError]],
        keyed: Callable[[IssueCommand], str],
    ) -> None:
        self.keyed = keyed
        self.lines = [line for line, _ in records]
        self.results: dict[int, ImportOutcome] = {}
        self.pending: dict[int, tuple[IssueCommand, Licence, str]] = {}

    def validate(
        self, i: int, cmd: IssueCommand | YihaoError, build: Callable[[IssueCommand], Licence]
    ) -> None:
        try:
            if isinstance(cmd, YihaoError):
                raise cmd
            key = check_idempotency_key(cmd.idempotency_key, required=True)
            self.pending[i] = (cmd, build(cmd), key)
        except TRANSIENT:
            raise  # the store's trouble, not the record's: the batch fails and is retried whole
        except YihaoError as exc:
            self.reject(i, exc.reason, str(exc))

    def reject(self, i: int, code: str, reason: str) -> None:
        self.results[i] = ImportOutcome(self.lines[i], "rejected", reason_code=code, reason=reason)
        self.pending.pop(i, None)

    def resolve_existing(self, conn: Connection, caller_code: str) -> None:
        keys = [key for _, _, key in self.pending.values()]
        known = repo.get_idempotency_many(conn, caller_code, keys)
        replayed: dict[int, IdempotencyRecord] = {}
        for i, (cmd, _lic, key) in list(self.pending.items()):
            record = known.get(key)
            if record is None:
                continue
            if record.request_sha256 != self.keyed(cmd):
                self.reject(i, "IDEMPOTENCY_KEY_REUSED", reused_message(key))
            else:
                replayed[i] = record
        ids = repo.current_licence_ids(conn, [r.serial for r in replayed.values()])
        for i, record in replayed.items():
            licence_id = ids.get(record.serial, "")
            self.results[i] = ImportOutcome(self.lines[i], "duplicate", licence_id=licence_id)
            self.pending.pop(i)
        self._reject_taken_numbers(conn)

    def _reject_taken_numbers(self, conn: Connection) -> None:
        pairs = [(lic.type_code, lic.licence_number) for _, lic, _ in self.pending.values()]
        taken = repo.existing_numbers(conn, pairs)
        seen_numbers: set[tuple[str, str]] = set()
        seen_keys: set[str] = set()
        for i, (_cmd, lic, key) in list(self.pending.items()):
            pair = (lic.type_code, lic.licence_number)
            if pair in taken or pair in seen_numbers:
                self.reject(i, "LICENCE_NUMBER_TAKEN", str(number_taken(lic)))
            elif key in seen_keys:
                self.reject(i, "IDEMPOTENCY_KEY_REUSED", reused_message(key) + " in this batch")
            else:
                seen_numbers.add(pair)
                seen_keys.add(key)

    def licences_to_insert(self) -> list[Licence]:
        return [lic for _, lic, _ in self.pending.values()]

    def idempotency_records(self) -> list[tuple[str, IdempotencyRecord]]:
        return [
            (key, IdempotencyRecord("IssueLicence", self.keyed(cmd), lic.serial))
            for cmd, lic, key in self.pending.values()
        ]

    def outcomes(self) -> list[ImportOutcome]:
        for i, (_cmd, lic, _key) in self.pending.items():
            self.results[i] = ImportOutcome(
                self.lines[i], "accepted", licence_id=str(lic.identifier)
            )
        return [self.results[i] for i in range(len(self.lines))]
