"""Running the fuzzer against a served stack: calls, outcomes, known bugs, the seeded stack."""

from __future__ import annotations

import contextlib
import logging
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import text_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common import audit_log
from services.common.pki import DevPki
from services.licence_store import demo
from testsupport.fuzz.fuzzer import Fuzzer
from testsupport.fuzz.templates import valid_fields
from testsupport.fuzz.values import (
    ALLOWED_CODES,
    METHODS,
    NO_RATE_LIMITS,
    TIMEOUT,
    TYPE_OF_ISSUER,
    Code,
    Pool,
    citizen_id,
    credit_code,
)
from testsupport.stack import Stack, settings_for, start_stack
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2

# ----------------------------------------------------------------------- calls and checks


class ServerErrors(logging.Handler):
    """Keeps the server's error log records, to quote a traceback by its correlation id."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def mark(self) -> int:
        return len(self.records)

    def traceback_for(self, message: str, since: int = 0) -> str:
        """The traceback behind an INTERNAL answer (by its correlation id), or else whatever
        the server logged with a traceback since ``since`` (e.g. a failed group commit)."""
        formatter = logging.Formatter()
        for record in reversed(self.records):
            corr = record.args[1] if isinstance(record.args, tuple) and len(record.args) > 1 else ""
            if corr and str(corr) in message and record.exc_info:
                return formatter.formatException(record.exc_info)
        return "\n".join(
            f"{r.getMessage()}\n{formatter.formatException(r.exc_info)}"
            for r in self.records[since:]
            if r.exc_info
        )


@dataclass
class Outcome:
    code: grpc.StatusCode
    message: str = ""
    reason: str = ""
    responses: list[Message] = field(default_factory=list)


def _reason(error: grpc.Call) -> str:
    try:
        status = rpc_status.from_call(error)
    except Exception:
        return ""
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def call(channel: grpc.Channel, path: str, requests: list[Any], raw: bool = False) -> Outcome:
    """Call ``path`` with ``requests`` (one, or several for a client stream) and wait."""
    method = METHODS[path]
    out = method.output_type._concrete_class
    ser = None if raw else (lambda m: m.SerializeToString())
    de = None if raw else out.FromString
    try:
        if method.client_streaming and method.server_streaming:
            responses = list(channel.stream_stream(path, ser, de)(iter(requests), timeout=TIMEOUT))
        elif method.client_streaming:
            responses = [channel.stream_unary(path, ser, de)(iter(requests), timeout=TIMEOUT)]
        elif method.server_streaming:
            responses = list(channel.unary_stream(path, ser, de)(requests[0], timeout=TIMEOUT))
        else:
            responses = [channel.unary_unary(path, ser, de)(requests[0], timeout=TIMEOUT)]
    except grpc.RpcError as exc:
        return Outcome(exc.code(), exc.details() or "", _reason(exc))
    return Outcome(Code.OK, responses=responses)


def short(msg: Message) -> str:
    text = text_format.MessageToString(msg, as_utf8=True)
    return text if len(text) < 3000 else text[:3000] + f"... ({len(text)} characters)"


@dataclass(frozen=True)
class KnownBug:
    """A reported server bug, recognised by its server traceback; see its test_bug_* test."""

    test: str
    methods: tuple[str, ...]
    signature: tuple[str, ...]  # substrings the server traceback must all contain

    def matches(self, path: str, traceback: str) -> bool:
        method = path.rsplit("/", 1)[-1]
        return (not self.methods or method in self.methods) and all(
            part in traceback for part in self.signature
        )


#: Open server bugs the fuzz tests let pass (each has a strict-xfail test_bug_*; fixed ones
#: have a test_regression_* at the end instead). ``methods`` empty: any method.
KNOWN_BUGS: tuple[KnownBug, ...] = ()  # none open: every bug found so far is fixed


def known_bug(path: str, traceback: str) -> KnownBug | None:
    return next((b for b in KNOWN_BUGS if b.matches(path, traceback)), None)


@dataclass
class Fuzz:
    stack: Stack
    pool: Pool
    fuzzer: Fuzzer
    errors: ServerErrors
    bugs_seen: dict[str, int] = field(default_factory=dict)

    def check(
        self, path: str, alias: str, requests: list[Message], outcome: Outcome, since: int = 0
    ) -> None:
        if outcome.code in ALLOWED_CODES:
            assert outcome.reason != "ROLE_REQUIRED", (path, alias)  # the fuzzer's mistake
            for response in outcome.responses:
                harvest(self.pool, response)
            return
        traceback = self.errors.traceback_for(outcome.message, since)
        bug = known_bug(path, traceback)
        if bug is not None:
            self.bugs_seen[bug.test] = self.bugs_seen.get(bug.test, 0) + 1
            return
        shown = "\n---\n".join(short(r) for r in requests)
        pytest.fail(
            f"{path} as {alias!r} answered {outcome.code.name}: {outcome.message}\n"
            f"request(s):\n{shown}\nserver traceback:\n{traceback or '(none logged)'}",
            pytrace=False,
        )


def harvest(pool: Pool, msg: Message) -> None:
    """Remember the ids an answer names, for later requests to use."""
    name = msg.DESCRIPTOR.full_name
    if name == "yihao.v1.Licence":
        pool.add_licence(msg.licence_id)
        pool.add(pool.type_numbers, (msg.type_code, msg.licence_number))
    elif name == "yihao.v1.ImportResult" or name == "yihao.v1.Verification":
        if msg.licence_id:
            pool.add_licence(msg.licence_id)
    elif name == "yihao.v1.AssistanceRequest":
        pool.add(pool.request_ids, msg.request_id)
    elif name == "yihao.v1.SigningKeyInfo":
        pool.add(pool.key_ids, msg.key_id)
    elif name == "yihao.v1.QrPayload":
        pool.add(pool.qr_payloads, msg.payload)
    elif name == "yihao.v1.SignedDocument" and len(pool.documents) < 20:
        pool.documents.append(msg)
    if name in ("yihao.v1.Verification", "yihao.v1.Receipt"):
        pool.add(pool.receipt_ids, msg.receipt_id)
    for f, value in msg.ListFields():
        if f.message_type is None or f.message_type.GetOptions().map_entry:
            continue
        for sub in value if f.is_repeated else [value]:
            harvest(pool, sub)


# ------------------------------------------------------------------------------- the stack


def seed(stack: Stack, pool: Pool) -> None:
    """A few licences of every type, receipts, requests, documents: things to aim at."""
    rng = random.Random(20261121)
    for alias, lt in TYPE_OF_ISSUER.items():
        person = lt.holder_kind.value == "person"
        for i in range(4):
            holder = (
                citizen_id("350102", date(1980 + i, 1 + i, 10 + i), rng.randrange(1000))
                if person
                else credit_code("91350100", "".join(rng.choice("0123456789") for _ in range(8)))
            )
            pool.add(pool.persons if person else pool.organisations, holder)
            licence = stack.store(alias).IssueLicence(
                licence_store_pb2.IssueLicenceRequest(
                    idempotency_key=f"seed-{alias}-{i}",
                    type_code=lt.type_code,
                    licence_number=f"SEED-{alias}-{i}",
                    holder=common_pb2.Holder(
                        number=holder, name="张三" if person else "福州示例科技有限公司"
                    ),
                    fields=valid_fields(lt.type_code),
                    valid_until="2030-12-31" if lt.default_validity_days else "",
                ),
                timeout=TIMEOUT,
            )
            harvest(pool, licence)
        changed = stack.store(alias).SuspendLicence(
            licence_store_pb2.StatusChangeRequest(
                licence=licence_store_pb2.LicenceRef(licence_id=licence.licence_id),
                reason_code="INVESTIGATION",
            ),
            timeout=TIMEOUT,
        )
        harvest(pool, changed)
        ref = licence_store_pb2.LicenceRef(licence_id=pool.by_issuer[alias][0])
        harvest(
            pool,
            stack.verifier("hall").VerifyLicence(
                verifier_pb2.VerifyLicenceRequest(licence=ref, purpose="办理业务"), timeout=TIMEOUT
            ),
        )
        harvest(
            pool,
            stack.verifier("portal").ExportDocument(
                verifier_pb2.ExportDocumentRequest(licence=ref), timeout=TIMEOUT
            ),
        )
        harvest(
            pool,
            stack.verifier("portal").IssueQrPayload(
                verifier_pb2.IssueQrPayloadRequest(licence=ref), timeout=TIMEOUT
            ),
        )
    for item_code, holder, key in (
        ("XZXZ-SC-001", pool.organisations[0], "seed-submit-1"),
        ("XZXZ-GA-001", pool.persons[0], "seed-submit-2"),
        ("XZXZ-GA-001", pool.persons[1], "seed-submit-3"),
    ):
        harvest(
            pool,
            stack.assistance("hall").SubmitRequest(
                assistance_pb2.SubmitRequestRequest(
                    idempotency_key=key,
                    item_code=item_code,
                    holder_number=holder,
                    purpose="住房保障资格审核",
                    legal_basis="《政务服务条例》",
                    case_number="CASE-2026-0",
                ),
                timeout=TIMEOUT,
            ),
        )
    for d in demo.DEPARTMENTS:
        harvest(
            pool,
            stack.store("hall").GetDepartment(
                licence_store_pb2.GetDepartmentRequest(credit_code=d.credit_code), timeout=TIMEOUT
            ),
        )
    stack.verifier("hall").GetTreeHead(verifier_pb2.GetTreeHeadRequest(fresh=True), timeout=TIMEOUT)
    with stack.app.db.read() as conn:
        for leaf in audit_log.leaves(conn):
            pool.add(pool.log_refs, leaf.ref)


@contextlib.contextmanager
def fuzzing(pki: DevPki, var: Path, url: str) -> Iterator[Fuzz]:
    """A seeded server on ``url`` with rate limits out of the way, and the fuzzer aimed at it.

    The server's error log is captured, so a failure can quote the traceback behind it."""
    stack = start_stack(settings_for(url, var, pki, rate_limits_json=NO_RATE_LIMITS), pki)
    errors = ServerErrors()
    loggers = [logging.getLogger(name) for name in ("yihao", "services", "grpc")]
    for logger in loggers:
        logger.addHandler(errors)
    pool = Pool()
    fuzz = Fuzz(stack, pool, Fuzzer(pool), errors)
    try:
        seed(stack, pool)
        yield fuzz
    finally:
        if fuzz.bugs_seen:  # say so: the fuzz tests passed over these known bugs
            warnings.warn(f"known server bugs hit while fuzzing: {fuzz.bugs_seen}", stacklevel=1)
        for logger in loggers:
            logger.removeHandler(errors)
        stop_stack(stack)


def stop_stack(stack: Stack) -> None:
    """``Stack.stop`` without waiting forever: after undecodable client-stream messages the
    gRPC server never finishes shutting down (see test_bug_sigterm_hangs_after_garbage_stream)."""
    for channel in stack._channels.values():
        channel.close()
    stack.server.stop(0).wait(5)
    stack.app.close()


def assert_answered(outcome: Outcome, *expected: grpc.StatusCode) -> None:
    """The call ended with one of ``expected`` (never INTERNAL), naming what it got instead."""
    assert outcome.code in expected, f"{outcome.code.name}: {outcome.message}"
