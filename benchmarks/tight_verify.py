"""How much of VerifyLicence's in-process cost is the work and how much the code around it.

Run: ``.venv/bin/python -m benchmarks.tight_verify [--licences N] [--calls N] [--rounds 1,4]
[--threads 1,8]``

A stack on SQLite (temporary directory, development PKI, demo catalogue) imports ``N``
business licences. Then, in one process and one run:

* **tight**: a verification's work in tight, single-threaded Python on that store, in rounds
  of K calls — the request parsed; the licence id and holder number parsed by the project's
  own functions; the change log and the licence rows read by the project's own statements on
  a kept ``sqlite3`` connection; the memo compared; the verdict; the answer as canonical JSON;
  the receipt's body (``receipt_body_of``), its SHA-256 and Ed25519 signature; the access
  row staged (``stage``); three inserts between ``BEGIN IMMEDIATE`` and ``COMMIT`` on the
  driver; the answer encoded; the log's real append every 32 entries. It leaves out work the
  real path must also do (the rate limit, the MISMATCH budget, holder keys through the vault,
  the signed status's comparison, deadlines): a yardstick, not a verifier.
* **handler**: the real ``VerifierServicer.VerifyLicence`` called by T threads (no gRPC), as
  ``benchmarks.profile_verify`` does, with its combined rounds counted.

Each figure is process CPU a call, best of three runs of ``--calls``, after a warm-up run.
The last line is JSON. docs/benchmarks.md ("Eighteenth pass") says what the gap is made of.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.profile_verify import _unary, stack_with_licences
from benchmarks.verify_load import verify_requests
from services.common.access_log import KIND as ACCESS_KIND
from services.common.access_rows import stage
from services.common.identifiers import parse_holder_number
from services.common.identity import Caller
from services.common.ids import time_ordered_id
from services.common.licence_ids import parse_licence_identifier
from services.licence_store import demo
from services.licence_store.persistence.changes import changes_from
from services.licence_store.persistence.rows import _BY_SERIALS
from services.verifier.domain.receipt import KIND as RECEIPT_KIND
from services.verifier.domain.receipt import receipt_body_of
from services.verifier.grpc_servicer import VerifierServicer
from yihao.v1 import verifier_pb2 as pb

CHINA = timezone(timedelta(hours=8))
REQUESTER = "11350100786579754C"
_RECEIPT = (
    "INSERT INTO verification_receipts (receipt_id, issued_at, requester_code, verdict, "
    "licence_id, content_sha256, body, key_id, algorithm, signature, staff) "
    "VALUES (?, ?, ?, ?, ?, ?, CAST(? AS TEXT), ?, ?, ?, NULL)"
)
_ACCESS = (
    "INSERT INTO access_records (holder_key, department_code, channel, purpose, case_number, "
    "what, at, staff, batch, holder_tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_QUEUE = "INSERT INTO audit_queue (kind, ref, payload_sha256, at) VALUES (?, ?, ?, ?)"


def valid_on(status: str, valid_from: str | None, valid_until: str | None, today: str) -> bool:
    """The tight verdict: an active licence within its dates (ISO days; None: unbounded)."""
    return status == "active" and (valid_from or "") <= today <= (valid_until or "9999-12-31")


class Tight:
    """The work of VerifyLicence for a round of requests, and nothing around it."""

    def __init__(self, path: Path, sequence: Callable[[], object]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.key = Ed25519PrivateKey.generate()
        self.sequence = sequence  # the log's real append
        self.idents: dict[str, Any] = {}
        self.memo: dict[str, tuple[int, str]] = {}
        self.seq = 0
        self.queued = 0

    def round(self, wire: Sequence[bytes]) -> list[bytes]:
        """Each request's encoded answer, its receipt and access record durable."""
        now = datetime.now(UTC)
        today = now.astimezone(CHINA).date().isoformat()
        items = []
        for raw in wire:
            request = pb.VerifyLicenceRequest.FromString(raw)
            licence_id = request.licence.licence_id
            ident = self.idents.get(licence_id)
            if ident is None:
                ident = self.idents[licence_id] = parse_licence_identifier(licence_id)
            holder = parse_holder_number(request.presented_holder_number)
            items.append((request, ident, holder))
        changes = changes_from(self.conn, self.seq)
        if changes:
            self.seq = changes[-1][0]
        serials = json.dumps([ident.serial for _, ident, _ in items])
        rows = {row[0]: row for row in self.conn.execute(_BY_SERIALS["sqlite"], (serials,))}
        answers, receipts, access, queue = [], [], [], []
        stamp = now.isoformat(" ")
        for request, ident, holder in items:
            row = rows[ident.serial]
            fingerprint = hash(row[6:23])
            known = self.memo.get(ident.serial)
            if known is None or known[0] != fingerprint:
                known = self.memo[ident.serial] = (fingerprint, holder.value)
            if not valid_on(row[1], row[16], row[17], today) or known[1] != holder.value:
                raise SystemExit(f"unexpected verdict for {request.licence.licence_id}")
            answer = {
                "as_of": now.isoformat(),
                "content_sha256": row[22],
                "holder_number_match": "MATCH",
                "licence_id": request.licence.licence_id,
                "reason": "ALL_CHECKS_PASSED",
                "type_code": row[6],
                "valid_from": row[16],
                "valid_until": row[17],
                "verdict": "VALID",
            }
            text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
            receipt_id = time_ordered_id("R", now)
            body = receipt_body_of(receipt_id, now, REQUESTER, [text.encode()])
            digest = hashlib.sha256(body).digest()
            signature = self.key.sign(digest)
            receipts.append(
                (
                    receipt_id,
                    stamp,
                    REQUESTER,
                    "VALID",
                    request.licence.licence_id,
                    row[22],
                    body,
                    "k1",
                    "ed25519-sha256",
                    signature,
                )
            )
            queue.append((RECEIPT_KIND, receipt_id, digest.hex(), stamp))
            what = f"{row[6]} {ident.serial}: verified, VALID"
            access.append(
                (
                    holder.value,
                    REQUESTER,
                    "verification",
                    request.purpose,
                    request.case_number,
                    what,
                    now,
                    None,
                )
            )
            answers.append(
                pb.Verification(
                    verdict=pb.VERDICT_VALID,
                    reason="ALL_CHECKS_PASSED",
                    holder_number_match=pb.HOLDER_MATCH_MATCH,
                    licence_id=request.licence.licence_id,
                    receipt_id=receipt_id,
                ).SerializeToString()
            )
        batch = time_ordered_id("A", now)
        stored, digest_hex = stage(access, batch)
        queue.append((ACCESS_KIND, batch, digest_hex, stamp))
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(_RECEIPT, receipts)
        self.conn.executemany(_ACCESS, [(*r[:6], stamp, *r[7:]) for r in stored])
        self.conn.executemany(_QUEUE, queue)
        self.conn.execute("COMMIT")
        self.queued += len(queue)
        if self.queued >= 32:  # the real sequencer's batch
            self.queued = 0
            self.sequence()
        return answers


def _best(run: Callable[[], int]) -> float:
    run()  # warm
    best = float("inf")
    for _ in range(3):
        began = time.process_time()
        calls = run()
        best = min(best, (time.process_time() - began) / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--licences", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", default="1,4", help="tight: calls a round (comma-separated)")
    parser.add_argument("--threads", default="1,8", help="handler: callers (comma-separated)")
    args = parser.parse_args()
    tight_us: dict[str, float] = {}
    handler_us: dict[str, float] = {}
    per_round: dict[str, float] = {}
    with stack_with_licences("yihao-tight-", args.licences) as (stack, targets, var):
        requests = verify_requests(targets)
        wire = [r.SerializeToString() for r in requests]
        service = stack.app.verifier
        tight = Tight(var / "yihao.db", service.receipts.sequencer.run)
        for k in (int(x) for x in args.rounds.split(",")):

            def rounds(k: int = k) -> int:
                for start in range(0, args.calls, k):
                    tight.round([wire[(start + j) % len(wire)] for j in range(k)])
                return len(range(0, args.calls, k)) * k

            tight_us[str(k)] = _best(rounds)
            print(f"tight, rounds of {k}: {tight_us[str(k)]:.0f} µs CPU a call", flush=True)
        servicer = VerifierServicer(service)
        combiner = service._combiner
        sizes: list[int] = []
        inner = combiner._run

        def counted(items: Any) -> Any:
            sizes.append(len(items))
            return inner(items)

        combiner._run = counted
        caller = Caller(demo.code_of("hall"))
        for t in (int(x) for x in args.threads.split(",")):
            run = _unary(servicer, caller, requests, args.calls, t)
            sizes.clear()
            handler_us[str(t)] = _best(run)
            per_round[str(t)] = round(4 * args.calls / len(sizes), 2)  # warm-up + 3 runs
            print(
                f"handler, {t} callers: {handler_us[str(t)]:.0f} µs CPU a call, "
                f"{per_round[str(t)]} calls a round",
                flush=True,
            )
    print(
        json.dumps(
            {
                "tight_cpu_us_per_call": {k: round(v, 1) for k, v in tight_us.items()},
                "handler_cpu_us_per_call": {k: round(v, 1) for k, v in handler_us.items()},
                "handler_calls_per_round": per_round,
            }
        )
    )


if __name__ == "__main__":
    main()
