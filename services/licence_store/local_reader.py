"""The licence store's reader in this process: :class:`LocalReader` implements
:class:`~services.licence_store.reader.LicenceReader` over the store's own database.

It needs the database, the public signing keys, the catalogue cache and the codec that opens
sealed columns; nothing of issuing, the lifecycle or import (a verifier-only process builds
just this).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from sqlalchemy import Connection

from services.common.database import Database
from services.common.errors import InvalidArgument, NotFound
from services.common.identifiers import (
    HolderNumber,
    validate_department_code,
    validate_licence_type_code,
)
from services.common.licence_ids import LicenceIdentifier, parse_licence_identifier
from services.common.metrics import NO_METRICS, Metrics
from services.common.sealing import Sealer
from services.common.trust import TrustWatch
from services.licence_store.attestation import StatusAttestor, StoredStatement, TrustedKeys
from services.licence_store.catalogue import CatalogueCache, all_departments
from services.licence_store.current_rows import CurrentRows
from services.licence_store.domain.catalogue import Department, LicenceType, SigningKeyRecord
from services.licence_store.domain.grants import GrantKey, ReadGrant
from services.licence_store.domain.licence import Status
from services.licence_store.domain.reading import CurrentLicence, CurrentReads, LicenceRef
from services.licence_store.domain.statements import LicenceState
from services.licence_store.domain.status_chain import StatusDecision
from services.licence_store.domain.stored import StoredLicence
from services.licence_store.keyring import PublicKeys
from services.licence_store.persistence import catalogue as catalogue_repo
from services.licence_store.persistence import changes
from services.licence_store.persistence import repository as repo
from services.licence_store.persistence import rows as hot_rows
from services.licence_store.persistence import statements as status_repo
from services.licence_store.persistence.codec import LicenceCodec

CLAIMS_MEMO_SIZE = 200_000

log = logging.getLogger(__name__)


class LocalReader:
    """Reads licences and catalogue facts from this process's database."""

    def __init__(
        self,
        db: Database,
        keys: PublicKeys,
        cache: CatalogueCache,
        codec: LicenceCodec,
        sealer: Sealer,
        trust: TrustWatch | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._db = db
        self._metrics = metrics
        self._trust = trust
        self._keys = keys
        self._cache = cache
        self._codec = codec
        #: Public keys accepted only as the public half of their sealed private key.
        self.trusted_keys = TrustedKeys(keys.get, self._sealed_key, sealer)
        #: Signed status: chains checked once per process, then compared.
        self.attestor = StatusAttestor(self.trusted_keys)
        self._claims: dict[str, tuple[tuple[object, ...], LicenceState]] = {}
        #: Current rows kept between reads, on SQLite, where the store logs which changed.
        self.current_rows: CurrentRows[CurrentLicence] | None = (
            CurrentRows(report=metrics.licence_rows) if db.engine.dialect.name == "sqlite" else None
        )
        self._watched: bool | None = None  # whether the change log's triggers are in place

    # ------------------------------------------------------------------------- licences

    def find(self, ref: LicenceRef) -> StoredLicence | None:
        """The licence ``ref`` names at its current version; None when there is none."""
        if ref.licence_id:
            ident = parse_licence_identifier(ref.licence_id, "licence.licence_id")
            with self._db.read() as conn:
                stored = repo.get_by_serial(conn, ident.serial, self._codec)
                if stored is None or not names(stored, ident):
                    return None
                return self._attest(conn, [stored])[0]
        with self._db.read() as conn:
            try:
                serial = resolve_serial(conn, ref, self._codec)
            except NotFound:
                return None
            stored = repo.get_by_serial(conn, serial, self._codec)
            return self._attest(conn, [stored])[0] if stored is not None else None

    def find_version(self, serial: str, version: int) -> StoredLicence | None:
        """One version of a licence."""
        with self._db.read() as conn:
            return repo.get_version(conn, serial, version, self._codec)

    def versions_of(self, serial: str) -> list[StoredLicence]:
        """Every version of a licence, oldest first."""
        with self._db.read() as conn:
            return repo.list_versions(conn, serial, self._codec)

    def status_chain(self, serial: str) -> list[tuple[bytes, bytes]]:
        """A licence's status statements as stored, unverified, in sequence order."""
        with self._db.read() as conn:
            return status_repo.chain_of(conn, serial)

    def status_timeline(self, serial: str) -> list[tuple[datetime, Status]]:
        """(instant, status after) for every event of a licence, oldest first."""
        with self._db.read() as conn:
            events = repo.events_after(conn, 0, (), 100_000, serial=serial)
        return [(e.event.at, e.event.status_after) for e in events]

    def holder_licences(
        self, holder: HolderNumber, type_codes: Sequence[str], limit: int = 500
    ) -> list[StoredLicence]:
        """A holder's licences of the given types (all types when empty), each with its signed
        status checked (``StoredLicence.status_refusal``)."""
        with self._db.read() as conn:
            found = repo.list_by_holder(conn, holder, type_codes, (), "", limit, self._codec)
            return self._attest(conn, found)

    def read_current(
        self, serials: Collection[str], numbers: Collection[tuple[str, str]] = ()
    ) -> CurrentReads:
        """The batch read, on the raw driver: one statement per type for the numbers, one for
        the licences (each statement reads one consistent snapshot) — on SQLite only for the
        licences changed since the last read or not read lately (:attr:`current_rows`)."""
        by_type: dict[str, list[str]] = {}
        for type_code, number in numbers:
            by_type.setdefault(type_code, []).append(number)
        with self._db.driver_reads() as connection:
            reads = hot_rows.DriverReads(connection, self._db.engine.dialect.name)
            resolved = {
                (type_code, number): serial
                for type_code, wanted in by_type.items()
                for number, serial in reads.serials_by_number(type_code, wanted).items()
            }
            wanted = {*serials, *resolved.values()}
            if self.current_rows is not None and self._watching(connection):
                # Rows are kept with their signed status already compared: the comparison
                # depends only on the rows, the statement read with them and the newest
                # statement this process verified for the licence, and a newer statement
                # is a write the change log reports, which makes the row read again.
                def attested(missing: list[str]) -> dict[str, CurrentLicence]:
                    return self._attest_rows(reads, reads.current(missing))

                since = partial(changes.changes_from, connection)
                return CurrentReads(self.current_rows.read(wanted, since, attested), resolved)
            found = reads.current(sorted(wanted))
            self._metrics.licence_rows(0, len(found))
            return CurrentReads(self._attest_rows(reads, found), resolved)

    def _attest_rows(
        self, reads: hot_rows.DriverReads, rows: dict[str, CurrentLicence]
    ) -> dict[str, CurrentLicence]:
        """Batch rows with their signed status checked; the chains that must be read (status
        statements not verified here yet: a licence's first read in this process, or a new
        act) read in one statement, not one transaction each."""
        needed = [s for s, c in rows.items() if self.attestor.needs_chain(s, hot_rows.head_of(c))]
        chains = reads.chains(needed) if needed else {}
        return {s: self._attest_current(c, chains.get(s)) for s, c in rows.items()}

    def _watching(self, connection: object) -> bool:
        """Whether the change log's triggers are in place (looked at once; without them the
        rows are read every time)."""
        if self._watched is None:
            self._watched = changes.watching(connection)
            if not self._watched:
                log.warning(
                    "licence change log incomplete (migration 0026's triggers missing): "
                    "licence rows are read afresh for every verification"
                )
        return self._watched

    def open(self, current: CurrentLicence) -> StoredLicence:
        """The domain object behind a :meth:`read_current` answer (sealed parts opened)."""
        return hot_rows.stored_current(current, self._codec)

    def status_as_of(self, serial: str, at: datetime) -> StatusDecision:
        """The licence's state at instant ``at``, from its verified status chain."""
        with self._db.read() as conn:
            chain = status_repo.chain_of(conn, serial)
        return self.attestor.decide_as_of(serial, chain, at)

    # -------------------------------------------------------------------- signed status

    def _attest(self, conn: Connection, found: Sequence[StoredLicence]) -> list[StoredLicence]:
        """``found`` with each one's signed status checked (one read of their chains)."""
        chains = status_repo.chains_of(conn, [s.licence.serial for s in found])
        return [self._attested(s, chains[s.licence.serial]) for s in found]

    def _attested(self, stored: StoredLicence, chain: list[StoredStatement]) -> StoredLicence:
        claimed = LicenceState.of(stored.licence, stored.signed.content_sha256)
        decision = self.attestor.decide(claimed, chain[-1] if chain else None, lambda: chain)
        return replace(stored, status_refusal=decision.reason) if decision.refusal else stored

    def _attest_current(
        self, current: CurrentLicence, chain: list[StoredStatement] | None = None
    ) -> CurrentLicence:
        """A batch row with its signed status checked: a comparison with the statement this
        process verified last, unless the newest statement read with the row is another
        (then its chain is checked: ``chain`` if read already, after the row)."""
        # The state the rows claim, made once per distinct row values (the attestor
        # recognises the very same object as the one it answered last).
        key = hot_rows.claim_key(current)
        memo = self._claims.get(current.serial)
        if memo is not None and memo[0] == key:
            claimed = memo[1]
        else:
            claimed = hot_rows.claimed_of(current)
            if len(self._claims) >= CLAIMS_MEMO_SIZE:
                self._claims.clear()
            self._claims[current.serial] = (key, claimed)

        def load_chain() -> list[StoredStatement]:
            if chain is not None:
                return chain
            with self._db.read() as conn:
                return status_repo.chain_of(conn, claimed.serial)

        decision = self.attestor.decide(claimed, hot_rows.head_of(current), load_chain)
        return current._replace(status_refusal=decision.reason) if decision.refusal else current

    def _sealed_key(self, key_id: str) -> bytes | None:
        with self._db.read() as conn:
            return status_repo.sealed_private_key(conn, key_id)

    # ------------------------------------------------------------------------ catalogue

    def public_key(self, key_id: str) -> SigningKeyRecord | None:
        """A department's public signing key by id (a compromise marked in any process is
        seen within the trust bound, :mod:`services.common.trust`), if it is the public half
        of the sealed private key stored with it (``attestation.TrustedKeys``); else None."""
        if self._trust is not None:
            self._trust.check()
        return self.trusted_keys(key_id)

    def licence_type(self, code: str) -> LicenceType:
        """A licence type by code."""
        code = validate_licence_type_code(code, "type_code")
        found = self._cache.licence_type(code)
        if found is None:
            raise NotFound(f"no licence type {code} in the catalogue", reason="TYPE_NOT_FOUND")
        return found

    def department(self, code: str) -> Department | None:
        """A registered department, from the catalogue cache."""
        return self._cache.department(code)

    def read_grants(self) -> dict[GrantKey, ReadGrant]:
        """Every read grant, from the catalogue cache."""
        return self._cache.read_grants()

    def names(self, type_code: str, issuer_code: str) -> tuple[str, str]:
        """(licence type name, issuer name) from the catalogue."""
        lt = self._cache.licence_type(type_code)
        dept = self._cache.department(issuer_code)
        return (lt.name if lt else "", dept.name if dept else "")

    def issuer_keys(self, codes: Sequence[str]) -> list[Department]:
        """Departments with their signing keys, read now (all of them when ``codes`` is empty)."""
        with self._db.read() as conn:
            if not codes:
                return list(all_departments(conn))
            found = []
            for raw in codes:
                code = validate_department_code(raw, "credit_code")
                dept = catalogue_repo.get_department(conn, code)
                if dept is None:
                    raise NotFound(f"no department {code}", reason="DEPARTMENT_NOT_FOUND")
                found.append(dept)
            return found


# ------------------------------------------------- references, shared with the store's use cases


def resolve_serial(conn: Connection, ref: LicenceRef, codec: LicenceCodec) -> str:
    """The serial of the licence ``ref`` names (INVALID_ARGUMENT if malformed, else
    NOT_FOUND when there is none)."""
    if ref.licence_id:
        ident = parse_licence_identifier(ref.licence_id, "licence.licence_id")
        stored = repo.get_by_serial(conn, ident.serial, codec)
        if stored is None or not names(stored, ident):
            raise licence_not_found(ref)
        return ident.serial
    if not ref.type_code and not ref.licence_number:
        raise InvalidArgument.field(
            "licence",
            "name a licence by licence_id or by type_code and licence_number",
            "REQUIRED",
        )
    type_code = validate_licence_type_code(ref.type_code, "licence.type_and_number.type_code")
    if not ref.licence_number.strip():
        raise InvalidArgument.field(
            "licence.type_and_number.licence_number", "is required", "REQUIRED"
        )
    serial = repo.find_serial_by_number(conn, type_code, ref.licence_number.strip())
    if serial is None:
        raise licence_not_found(ref)
    return serial


def names(stored: StoredLicence, ident: LicenceIdentifier) -> bool:
    """Whether an identifier (of any existing version) names this stored licence."""
    lic = stored.licence
    return (
        lic.type_code == ident.type_code
        and lic.issuer_code == ident.issuer_code
        and ident.version <= lic.version
    )


def licence_not_found(ref: LicenceRef) -> NotFound:
    """NOT_FOUND for a reference that names no licence."""
    named = ref.licence_id or f"{ref.type_code}:{ref.licence_number}"
    return NotFound(f"no licence {named}", reason="LICENCE_NOT_FOUND")
