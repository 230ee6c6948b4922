"""The audit monitor (``yihao audit monitor``): the log's signed heads, kept outside the database.

A monitor asks a running server (over gRPC, as a department) for the log's latest signed tree
head, checks the head's signature against the published log key (pinned in the monitor's own
state the first time it is seen), checks that the head grew by appending only — an RFC 9162
consistency proof from every head it kept — spot-checks the newest entries and the status
chains of the licences they changed (services.audit_spot_checks), and that the entries it
was told of (``--ref``) are still included, with the same leaf hash at the same index. The heads
it accepts are appended to ``<state>/heads.jsonl`` in the format of ``audit save-head``, so
``yihao audit verify --heads <state>/heads.jsonl`` can check the database against them too.

A database rolled back (restored from an older copy, or its newest entries deleted with the
heads stored beside them) gives a head smaller than one kept, or one whose proof from a kept
head does not verify: the round fails with :class:`Inconsistency`, naming the head sizes and
the first bad point (the largest kept head still consistent, the first one no longer).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from services.audit_spot_checks import SpotCheckFailed, SpotChecks
from services.common import merkle
from services.common.audit_log import TreeHead, head_bytes
from services.common.signing import PublicKey
from services.common.trusted_head import REASON as BEHIND
from services.common.trusted_head import head_line as head_line
from yihao_shared.errors import YihaoError

log = logging.getLogger("yihao.audit.monitor")

#: The series the monitor exports (a counter's with ``_total``).
MONITOR_METRICS = (
    "yihao_audit_monitor_last_success_timestamp_seconds",
    "yihao_audit_monitor_failures_total",
    "yihao_audit_monitor_tree_size",
)
HEADS_FILE = "heads.jsonl"
#: How many of the newest entries a round spot-checks by default.
RECENT = 32
KEYS_FILE = "log-keys.json"
REFS_FILE = "refs.json"


class Inconsistency(Exception):
    """The log the server shows is not one that grew from the heads the monitor kept."""


def _from_proto(message: Any) -> TreeHead:
    return TreeHead(
        message.tree_size,
        bytes(message.root_hash),
        message.at.ToDatetime(tzinfo=UTC),
        message.key_id,
        bytes(message.signature),
    )


@dataclass
class Round:
    """What one check found."""

    head: TreeHead
    new_head_kept: bool
    refs_checked: int
    entries_checked: int = 0
    chains_checked: int = 0


class Monitor:
    """Checks a server's log against the heads kept in ``state`` (a directory of its own)."""

    def __init__(
        self, client: Any, state: Path, refs: Sequence[str] = (), recent: int = RECENT
    ) -> None:
        """``client``: a :class:`clients.client.YihaoClient` (its verifier calls); ``recent``:
        how many of the newest entries each round spot-checks, with the status chains of the
        licences they changed (services.audit_spot_checks; 0: none)."""
        self.client = client
        self.state = state
        self.refs = list(refs)
        self.spot = SpotChecks(lambda: self.client, self._json, self._write_json, recent)
        state.mkdir(parents=True, exist_ok=True)

    # --- the monitor's own storage ----------------------------------------------------------

    def kept_heads(self) -> list[TreeHead]:
        """The heads accepted so far, oldest first."""
        path = self.state / HEADS_FILE
        if not path.exists():
            return []
        from services.audit import load_heads

        return load_heads(path)

    def _keep(self, head: TreeHead) -> None:
        with open(self.state / HEADS_FILE, "a", encoding="utf-8") as out:
            out.write(head_line(head) + "\n")

    def _json(self, name: str) -> dict[str, Any]:
        path = self.state / name
        if not path.exists():
            return {}
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        tmp = self.state / f".{name}.tmp"
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(self.state / name)

    # --- the checks -------------------------------------------------------------------------

    def _log_key(self, key_id: str) -> PublicKey:
        """The log key ``key_id``: pinned on first sight; a different key under it later is an
        inconsistency."""
        pinned = self._json(KEYS_FILE)
        published = {k.key_id: k.public_key_pem for k in self.client.get_issuer_keys().receipt_keys}
        pem = published.get(key_id)
        if pem is None:
            raise Inconsistency(f"the head is signed by {key_id}, which is not a published log key")
        if key_id in pinned and pinned[key_id] != pem:
            raise Inconsistency(f"the published log key {key_id} differs from the one pinned")
        if key_id not in pinned:
            pinned[key_id] = pem
            self._write_json(KEYS_FILE, pinned)
        return PublicKey.from_pem(key_id, pem)

    def _consistent(self, old: TreeHead, new: TreeHead) -> bool:
        if old.tree_size > new.tree_size:
            return False
        if old.tree_size == new.tree_size:
            return old.root_hash == new.root_hash
        proof = self.client.get_consistency_proof(
            first_size=old.tree_size, second_size=new.tree_size
        )
        return merkle.verify_consistency(
            old.tree_size, new.tree_size, old.root_hash, new.root_hash, list(proof.path)
        )

    def _first_bad_point(self, kept: list[TreeHead], new: TreeHead) -> str:
        good = None
        for head in kept:
            if head.tree_size <= new.tree_size and self._consistent(head, new):
                good = head
            else:
                where = f"kept head of {head.tree_size} entries signed {head.at.isoformat()}"
                after = f"; consistent up to {good.tree_size} entries" if good else ""
                return f"first bad point: {where}{after}"
        return "first bad point: unknown"

    def _check_refs(self, head: TreeHead) -> int:
        seen = self._json(REFS_FILE)
        for ref in self.refs:
            earlier = seen.get(ref)
            try:
                proof = self.client.get_inclusion_proof(ref=ref, tree_size=head.tree_size)
            except YihaoError as exc:
                if earlier and exc.status == "NOT_FOUND":
                    raise Inconsistency(
                        f"entry {ref} was leaf {earlier['index']} and is no longer in the log"
                    ) from None
                raise
            leaf, index = bytes(proof.leaf_hash), proof.leaf_index
            if not merkle.verify_inclusion(
                leaf, index, head.tree_size, list(proof.path), head.root_hash
            ):
                raise Inconsistency(
                    f"entry {ref} (leaf {index}) is not included in the head of "
                    f"{head.tree_size} entries"
                )
            if earlier and (earlier["index"], earlier["leaf"]) != (index, leaf.hex()):
                raise Inconsistency(
                    f"entry {ref} was leaf {earlier['index']} and is now leaf {index} "
                    "with another hash"
                )
            seen[ref] = {"index": index, "leaf": leaf.hex()}
        if self.refs:
            self._write_json(REFS_FILE, seen)
        return len(self.refs)

    def check(self) -> Round:
        """One round: fetch, verify and keep the latest head. Raises :class:`Inconsistency`."""
        try:
            return self._check()
        except YihaoError as exc:
            if exc.reason == BEHIND:  # the server found it itself, and fails closed
                raise Inconsistency(f"the server refuses: {exc.message}") from None
            if exc.reason == "LOG_INCOMPLETE":  # a hash the log needs is gone from its storage
                raise Inconsistency(f"the server's log is incomplete: {exc.message}") from None
            raise

    def _check(self) -> Round:
        head = _from_proto(self.client.get_tree_head(fresh=True))
        key = self._log_key(head.key_id)
        if not key.verify(head_bytes(head.tree_size, head.root_hash, head.at), head.signature):
            raise Inconsistency(
                f"the head of {head.tree_size} entries does not verify under {head.key_id}"
            )
        kept = self.kept_heads()
        last = kept[-1] if kept else None
        if last is not None and not self._consistent(last, head):
            what = (
                "the log shrank (rolled back?)"
                if head.tree_size < last.tree_size
                else "the log was rewritten"
            )
            raise Inconsistency(
                f"{what}: the server's head of {head.tree_size} entries (signed "
                f"{head.at.isoformat()}) is not consistent with the kept head of "
                f"{last.tree_size} entries (signed {last.at.isoformat()}); "
                f"{self._first_bad_point(kept, head)}"
            )
        refs = self._check_refs(head)
        try:
            if self.spot.recent > 0:
                self.spot.keys()  # every round: a key mark undone is caught even with no acts
            entries, events = self.spot.entries(head)
            chains = self.spot.chains(events)
        except SpotCheckFailed as exc:
            raise Inconsistency(str(exc)) from None
        grew = last is None or head.tree_size > last.tree_size
        if grew:
            self._keep(head)
        return Round(head, grew, refs, entries, chains)


class Loop:
    """Rounds of :meth:`Monitor.check` every ``every`` seconds until stopped, with metrics.

    An unreachable server or a failed call counts as a failure (logged, the metric
    incremented) and the next round tries again; an :class:`Inconsistency` ends the loop, or
    with ``keep_reporting`` is logged and counted every round until stopped (a deployed
    monitor, whose metrics must outlive the finding), the kept heads left as they were.
    """

    def __init__(
        self,
        monitor: Monitor,
        textfile: Path | None = None,
        reconnect: Callable[[], Any] | None = None,
    ) -> None:
        """``textfile``: where to write the metrics after each round (node_exporter's textfile
        collector), if anywhere. ``reconnect``: makes a new client after a failed round, so a
        restarted server is reached at the next round rather than after gRPC's reconnection
        backoff (which grows to minutes)."""
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.monitor = monitor
        self.textfile = textfile
        self.reconnect = reconnect
        self.registry = CollectorRegistry()
        self.last_success = Gauge(
            "yihao_audit_monitor_last_success_timestamp_seconds",
            "Unix time of the monitor's last round that found the log consistent",
            registry=self.registry,
        )
        self.failures = Counter(
            "yihao_audit_monitor_failures",
            "Rounds that failed, by kind (inconsistent: the log; unavailable: could not check it)",
            ["kind"],
            registry=self.registry,
        )
        for kind in ("inconsistent", "unavailable"):
            self.failures.labels(kind=kind)  # a series from the start, at 0
        self.tree_size = Gauge(
            "yihao_audit_monitor_tree_size",
            "Size of the latest head the monitor kept",
            registry=self.registry,
        )
        self.stopped = threading.Event()
        self.unavailable = False

    def once(self) -> bool:
        """One round; False on an inconsistency (logged at ERROR), True otherwise."""
        try:
            found = self.monitor.check()
        except Inconsistency as exc:
            self.failures.labels(kind="inconsistent").inc()
            log.error("audit monitor: INCONSISTENT LOG: %s", exc)
            return False
        except YihaoError as exc:
            self.failures.labels(kind="unavailable").inc()
            self.unavailable = True
            log.warning("audit monitor: could not check the log: %s %s", exc.status, exc.message)
            if self.reconnect is not None:
                self.monitor.client = self.reconnect()
            return True
        self.unavailable = False
        self.last_success.set(time.time())
        self.tree_size.set(found.head.tree_size)
        log.info(
            "audit monitor: head of %d entries consistent (%s; %d entries and %d licences' "
            "status chains spot-checked, %d --ref entries)",
            found.head.tree_size,
            "kept" if found.new_head_kept else "unchanged",
            found.entries_checked,
            found.chains_checked,
            found.refs_checked,
        )
        return True

    def run(self, every: float | None, keep_reporting: bool = False) -> int:
        """Run once (``every`` None) or until :meth:`stop`; 1 at an inconsistency (at the
        first, unless ``keep_reporting``), 2 if a single run could not reach the server, else 0."""
        found_any = False
        while True:
            consistent = self.once()
            if self.textfile is not None:
                from prometheus_client import write_to_textfile

                write_to_textfile(str(self.textfile), self.registry)
            found_any = found_any or not consistent
            if found_any and (every is None or not keep_reporting):
                return 1
            if every is None:
                return 2 if self.unavailable else 0
            if self.stopped.wait(every):
                return 1 if found_any else 0

    def serve_metrics(self, listen: str) -> None:
        """Serve the metrics over HTTP at ``listen`` (HOST:PORT) from a daemon thread."""
        from prometheus_client import start_http_server

        host, _, port = listen.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0", registry=self.registry)

    def stop(self) -> None:
        """End :meth:`run` after the current round (SIGTERM, SIGINT)."""
        self.stopped.set()
