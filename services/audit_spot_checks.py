"""The audit monitor's spot checks of recent entries and of recently changed licences' chains.

Each round the monitor lists the newest ``recent`` entries of the head it just accepted
(``ListLogEntries``, supervisors only) and checks, for each, that its leaf hash is the hash of
its kind, reference and payload hash, and that its inclusion proof verifies in the head; a
position the head covers but the listing lacks is a deleted entry, named by index.

For every licence event among them it fetches the licence's status chain
(``GetStatusChain``) and checks it as a verifier does (sequence contiguous from 1, each
statement linked to the one before, signed by a key of the issuing department valid at its
instant, each act one the lifecycle allows: services.licence_store.domain.status_chain), with
the issuers' keys published by ``GetIssuerKeys`` and pinned in the monitor's state on first
sight; then that the chain holds the act the log recorded (same act, same instant) — a
licence whose newest statements were deleted (and rows set back) while the log kept its
entries fails here — and that it did not shrink or fork since the monitor last saw it.

The issuers' keys are pinned with their marks: a compromise mark or an end of validity the
monitor has seen cannot be removed or moved later by a database edit unnoticed (it checks
them every round).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.common import merkle
from services.common.audit_log import TreeHead, leaf_data
from services.common.evidence import Entry
from services.common.signing import PublicKey
from services.licence_store.domain.catalogue import SigningKeyRecord
from services.licence_store.domain.statements import Act, StatusStatement
from services.licence_store.domain.status_chain import verify_chain

#: The kind of a licence event's log entry (services.licence_store.audit.KIND).
LICENCE_EVENT = "licence_event"
ISSUER_KEYS_FILE = "issuer-keys.json"
CHAINS_FILE = "chains.json"
#: Licences whose newest statement the monitor remembers (the oldest are forgotten first).
CHAINS_KEPT = 10_000


class SpotCheckFailed(Exception):
    """What a spot check found wrong (the monitor reports it as an inconsistency)."""


class SpotChecks:
    """The checks, given a client and the monitor's state directory."""

    def __init__(
        self,
        client: Callable[[], Any],
        read_json: Callable[[str], dict[str, Any]],
        write_json: Callable[[str, dict[str, Any]], None],
        recent: int,
    ) -> None:
        """``client``: the monitor's current client (it may be replaced between rounds)."""
        self.client = client
        self.read_json = read_json
        self.write_json = write_json
        self.recent = recent

    # --- entries --------------------------------------------------------------------------

    def entries(self, head: TreeHead) -> tuple[int, dict[str, list[tuple[int, Act, datetime]]]]:
        """Check the newest entries of ``head``; (how many, licence events by serial)."""
        if self.recent <= 0 or head.tree_size == 0:
            return 0, {}
        start = max(0, head.tree_size - self.recent)
        reply = self.client().list_log_entries(
            tree_size=head.tree_size, start=start, count=head.tree_size - start
        )
        if bytes(reply.head.root_hash) != head.root_hash:
            raise SpotCheckFailed(
                f"the entries were listed under a head of {reply.head.tree_size} entries with "
                f"another root than the head of {head.tree_size} entries just accepted"
            )
        listed = {e.leaf_index: e for e in reply.entries}
        events: dict[str, list[tuple[int, Act, datetime]]] = {}
        for index in range(start, head.tree_size):
            e = listed.get(index)
            if e is None:
                raise SpotCheckFailed(
                    f"entry #{index} is covered by the head of {head.tree_size} entries but is "
                    "no longer in the log (deleted?)"
                )
            leaf = merkle.leaf_hash(leaf_data(Entry(e.kind, e.ref, e.payload_sha256)))
            if leaf != bytes(e.leaf_hash):
                raise SpotCheckFailed(
                    f"entry #{index} ({e.kind} {e.ref}): its leaf hash is not the hash of its "
                    "kind, reference and payload hash"
                )
            if not merkle.verify_inclusion(
                leaf, index, head.tree_size, list(e.path), head.root_hash
            ):
                raise SpotCheckFailed(
                    f"entry #{index} ({e.kind} {e.ref}) is not included in the head of "
                    f"{head.tree_size} entries"
                )
            if e.kind == LICENCE_EVENT:
                serial, kind, at = _event_ref(e.ref)
                events.setdefault(serial, []).append((index, kind, at))
        return head.tree_size - start, events

    # --- chains ---------------------------------------------------------------------------

    def chains(self, events: dict[str, list[tuple[int, Act, datetime]]]) -> int:
        """Check the status chain of every licence in ``events``; how many were checked."""
        if not events:
            return 0
        keys = self.keys()
        seen = self.read_json(CHAINS_FILE)
        for serial, logged in events.items():
            reply = self.client().get_status_chain(serial=serial)
            parsed = [
                StatusStatement.parse(bytes(s.body), bytes(s.signature)) for s in reply.statements
            ]
            check = verify_chain(serial, parsed, keys.get, _signature_ok)
            if not check.ok or check.head is None:
                reason = check.refusal.value if check.refusal else "STATUS_UNATTESTED"
                raise SpotCheckFailed(
                    f"licence {serial}: its status chain does not verify ({reason} at "
                    f"statement {check.failed_at}); log entry #{logged[0][0]} is one of its acts"
                )
            held = {(s.act, s.at) for s in check.statements}
            for index, act, at in logged:
                if (act, at) not in held:
                    raise SpotCheckFailed(
                        f"licence {serial}: log entry #{index} records the act {act.value} at "
                        f"{at.isoformat()}, which its status chain (of {check.head.sequence} "
                        "statements) does not hold — its newest statements deleted?"
                    )
            earlier = seen.get(serial)
            if earlier is not None:
                sequence, digest = int(earlier[0]), str(earlier[1])
                if check.head.sequence < sequence:
                    raise SpotCheckFailed(
                        f"licence {serial}: its status chain has {check.head.sequence} "
                        f"statements; the monitor saw {sequence} (rolled back?)"
                    )
                if check.statements[sequence - 1].digest != digest:
                    raise SpotCheckFailed(
                        f"licence {serial}: statement {sequence} is not the one the monitor saw"
                    )
            seen.pop(serial, None)
            seen[serial] = [check.head.sequence, check.head.digest]
        while len(seen) > CHAINS_KEPT:
            seen.pop(next(iter(seen)))
        self.write_json(CHAINS_FILE, seen)
        return len(events)

    def keys(self) -> dict[str, SigningKeyRecord]:
        """The issuers' published keys, each pinned on first sight with its marks: the same key
        id published later with another key (swapped in the database), or with a compromise
        mark or end of validity removed or moved later (a mark undone by a database edit),
        is a failure; marks added or moved earlier are kept."""
        pinned = self.read_json(ISSUER_KEYS_FILE)
        records: dict[str, SigningKeyRecord] = {}
        for issuer in self.client().get_issuer_keys().issuers:
            for k in issuer.keys:
                public = PublicKey.from_pem(k.key_id, k.public_key_pem)
                record = SigningKeyRecord(
                    key_id=k.key_id,
                    department_code=issuer.issuer_code,
                    algorithm=k.algorithm,
                    public_key=public.public_key,
                    valid_from=k.valid_from.ToDatetime(tzinfo=UTC),
                    valid_until=_instant(k, "valid_until"),
                    compromised_at=_instant(k, "compromised_at"),
                )
                _compare_with_pin(record, k.public_key_pem, pinned.get(k.key_id))
                pinned[k.key_id] = {
                    "issuer": issuer.issuer_code,
                    "pem": k.public_key_pem,
                    "valid_until": _iso(record.valid_until),
                    "compromised_at": _iso(record.compromised_at),
                }
                records[k.key_id] = record
        self.write_json(ISSUER_KEYS_FILE, pinned)
        return records


def _compare_with_pin(record: SigningKeyRecord, pem: str, pin: dict[str, Any] | None) -> None:
    if pin is None:
        return
    who = f"the published key {record.key_id} of {record.department_code}"
    if (pin["issuer"], pin["pem"]) != (record.department_code, pem):
        raise SpotCheckFailed(f"{who} differs from the one pinned (swapped in the database?)")
    for mark, now in (
        ("compromise mark", record.compromised_at),
        ("end of validity", record.valid_until),
    ):
        name = "compromised_at" if mark == "compromise mark" else "valid_until"
        seen = datetime.fromisoformat(pin[name]) if pin.get(name) else None
        if seen is not None and (now is None or now > seen):
            raise SpotCheckFailed(
                f"{who}: its {mark} (from {seen.isoformat()}) was removed or moved later"
            )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _instant(message: Any, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


def _signature_ok(key: SigningKeyRecord, data: bytes, signature: bytes) -> bool:
    return PublicKey(key.key_id, key.algorithm, key.public_key).verify(data, signature)


def _event_ref(ref: str) -> tuple[str, Act, datetime]:
    """(serial, act, instant) of a licence event's reference ``serial:kind:instant``."""
    try:
        serial, kind, at = ref.split(":", 2)
        return serial, Act(kind), datetime.fromisoformat(at)
    except ValueError:
        raise SpotCheckFailed(f"a licence event entry has a malformed reference {ref!r}") from None
