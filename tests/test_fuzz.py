"""Property-based fuzzing of every RPC, over one real server (mutual TLS) per module.

* Every RPC of every service, enumerated from the proto descriptors, is called as a department
  the policy table allows, with requests generated from the request's descriptor: hostile
  strings (control characters, mixed scripts, up to ~100 KB, SQL and path fragments), valid and
  broken holder numbers, credit codes and e-licence identifiers, extreme integers, unknown enum
  numbers, extreme timestamps — either from scratch or as a few mutations of a valid request
  (so the handlers get past validation too). Every answer must be OK or a client error
  (:data:`ALLOWED_CODES`): never INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE, DEADLINE_EXCEEDED.
* A reused idempotency key with another body is ABORTED and stores nothing.
* Bytes that are not a protobuf, sent to every method, fail cleanly and the server keeps serving.
* Afterwards the store is consistent and the tamper-evident log verifies.

``YIHAO_FUZZ_EXAMPLES`` sets the examples per RPC (default 25: the file runs in about half a
minute); e.g. ``YIHAO_FUZZ_EXAMPLES=500 pytest tests/test_fuzz.py``. The server runs on SQLite;
``YIHAO_FUZZ_DATABASE=postgresql`` runs it on the session's PostgreSQL instead (which refuses
some values SQLite stores). A failure names the RPC, the department, the request and the
server's traceback (matched by the correlation id).

The fuzzer itself lives in :mod:`testsupport.fuzz`. Bugs it found are reproduced exactly: open
ones by a strict-xfail ``test_bug_*`` here (the fuzz tests recognise them by their server
traceback, :data:`testsupport.fuzz.harness.KNOWN_BUGS`, and let them pass, so they keep finding
new ones), fixed ones by a ``test_regression_*`` beside the module the fix is in.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError, Message
from hypothesis import given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.assistance.persistence.tables import assistance_requests
from services.audit import verify
from services.common.authz import POLICY
from services.common.pki import DevPki
from services.licence_store import demo
from services.licence_store.persistence.tables import licence_events, licence_versions, licences
from testsupport.fuzz.harness import Fuzz, Outcome, call, fuzzing, short
from testsupport.fuzz.templates import valid_fields
from testsupport.fuzz.values import (
    DEMO_CODES,
    FUZZ,
    GARBAGE_EXAMPLES,
    ITEM_CODES,
    METHODS,
    TIMEOUT,
    TYPE_CODES,
    Code,
    allowed_aliases,
    credit_code,
)
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2


@pytest.fixture(scope="module")
def fuzz(
    pki: DevPki, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Fuzz]:
    """One server for the module: on SQLite, or on the session's PostgreSQL with
    YIHAO_FUZZ_DATABASE=postgresql (column lengths are enforced there only)."""
    var: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{var / 'yihao.db'}"
    if os.environ.get("YIHAO_FUZZ_DATABASE") == "postgresql":
        template = request.getfixturevalue("pg_template")
        url = request.getfixturevalue("postgres").create_database(
            f"fuzz{os.getpid()}", template=template
        )
    with fuzzing(pki, var, url) as fuzz:
        yield fuzz


# -------------------------------------------------------------------------------- the tests


def _protect_demo_catalogue(path: str, request: Message) -> None:
    """Admin writes may not overwrite the demo departments, types or items (their roles and
    issuers are what the rest of the fuzzing relies on); anything else is fair game."""

    def compact(text: str) -> str:
        return "".join(text.split()).upper()

    if path.endswith("/RegisterDepartment") and compact(request.credit_code) in DEMO_CODES:
        request.credit_code = request.credit_code + "X"
    if (
        path.endswith("/RegisterLicenceType")
        and compact(request.licence_type.type_code) in TYPE_CODES
    ):
        request.licence_type.type_code += "0"
    if path.endswith("/RegisterItem") and compact(request.item.code) in ITEM_CODES:
        request.item.code += "-F"


def test_every_rpc_is_fuzzed():
    assert set(METHODS) == set(POLICY)
    assert all(allowed_aliases(path) for path in METHODS)


@pytest.mark.parametrize("path", sorted(METHODS))
def test_fuzz_rpc(fuzz: Fuzz, path: str):
    """Generated requests to ``path``, as an allowed department: never an internal error."""
    method = METHODS[path]
    aliases = allowed_aliases(path)

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        alias = data.draw(st.sampled_from(aliases), label="as")
        strategy = fuzz.fuzzer.request(method.input_type, alias)
        count = data.draw(st.integers(1, 5)) if method.client_streaming else 1
        requests = [data.draw(strategy, label="request") for _ in range(count)]
        for request in requests:
            if method.name.startswith("Watch"):
                request.follow = False  # a following stream never ends
            _protect_demo_catalogue(path, request)
        note("\n---\n".join(short(r) for r in requests))
        since = fuzz.errors.mark()
        outcome = call(fuzz.stack.channel(alias), path, requests)
        fuzz.check(path, alias, requests, outcome, since)

    run()


# --- idempotency ---------------------------------------------------------------------------


def _count(fuzz: Fuzz, table: Any) -> int:
    with fuzz.stack.app.db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


ISSUE_CHANGES = (
    ("licence_number", lambda m, u: setattr(m, "licence_number", u)),
    ("holder.name", lambda m, u: setattr(m.holder, "name", "李四")),
    ("holder.number", lambda m, u: setattr(m.holder, "number", "91350100M000100Y43")),
    ("fields", lambda m, u: m.fields.__setitem__("address", f"福州市{u}号")),
    ("valid_until", lambda m, u: setattr(m, "valid_until", "2031-01-01")),
    ("valid_from", lambda m, u: setattr(m, "valid_from", "2026-01-02")),
)


@FUZZ
@given(data=st.data(), change=st.sampled_from(ISSUE_CHANGES))
def test_reused_issue_key_with_another_body_is_aborted(fuzz: Fuzz, data, change):
    key = data.draw(
        st.text(string.ascii_letters + string.digits + "._:-", min_size=8, max_size=100)
    ) + fuzz.fuzzer.unique("")
    first = fuzz.fuzzer.t_issue(data.draw, "market")
    first.idempotency_key = key[-128:]
    store = fuzz.stack.store("market")
    issued = store.IssueLicence(first, timeout=TIMEOUT)
    other = licence_store_pb2.IssueLicenceRequest()
    other.CopyFrom(first)
    change[1](other, fuzz.fuzzer.unique("OTHER"))
    assert other != first
    before = _count(fuzz, licences), _count(fuzz, licence_events)

    outcome = call(fuzz.stack.channel("market"), "/yihao.v1.LicenceStore/IssueLicence", [other])

    assert (outcome.code, outcome.reason) == (Code.ABORTED, "IDEMPOTENCY_KEY_REUSED"), change[0]
    assert (_count(fuzz, licences), _count(fuzz, licence_events)) == before
    again = store.IssueLicence(first, timeout=TIMEOUT)  # the original body still replays
    assert again.licence_id == issued.licence_id


SUBMIT_CHANGES = (
    ("holder_number", lambda m: setattr(m, "holder_number", "91110000600037341L")),
    ("case_number", lambda m: setattr(m, "case_number", "CASE-OTHER")),
    ("requested_fields", lambda m: m.requested_fields.append("licence_number")),
    ("item_code", lambda m: setattr(m, "item_code", "XZXZ-GA-001")),
    ("purpose", lambda m: setattr(m, "purpose", "人才引进审核")),
    ("legal_basis", lambda m: setattr(m, "legal_basis", "《另一依据》")),
)


def _submit_first(fuzz: Fuzz, key: str) -> assistance_pb2.SubmitRequestRequest:
    return assistance_pb2.SubmitRequestRequest(
        idempotency_key=key,
        item_code="XZXZ-SC-001",
        holder_number=fuzz.pool.organisations[0],
        purpose="住房保障资格审核",
        legal_basis="《政务服务条例》第十条",
        case_number="CASE-2026-7",
    )


@FUZZ
@given(data=st.data(), change=st.sampled_from(SUBMIT_CHANGES))
def test_reused_submit_key_with_another_body_is_aborted(fuzz: Fuzz, data, change):
    key = data.draw(st.text(string.ascii_letters + string.digits, min_size=8, max_size=60))
    first = _submit_first(fuzz, key + fuzz.fuzzer.unique(""))
    hall = fuzz.stack.assistance("hall")
    submitted = hall.SubmitRequest(first, timeout=TIMEOUT)
    other = assistance_pb2.SubmitRequestRequest()
    other.CopyFrom(first)
    change[1](other)
    before = _count(fuzz, assistance_requests)

    outcome = call(fuzz.stack.channel("hall"), "/yihao.v1.Assistance/SubmitRequest", [other])

    assert (outcome.code, outcome.reason) == (Code.ABORTED, "IDEMPOTENCY_KEY_REUSED"), change[0]
    assert _count(fuzz, assistance_requests) == before
    assert hall.SubmitRequest(first, timeout=TIMEOUT).request_id == submitted.request_id


@pytest.mark.parametrize("method", ["IssueLicence", "SubmitRequest"])
def test_one_key_raced_with_two_bodies_stores_one_record(fuzz: Fuzz, method: str):
    """16 concurrent calls, one key, two bodies: one record; its body's calls answer it, the
    other body's are ABORTED."""
    import threading

    key = fuzz.fuzzer.unique("race")
    if method == "IssueLicence":
        alias, path, table = "market", "/yihao.v1.LicenceStore/IssueLicence", licences
        bodies = [
            licence_store_pb2.IssueLicenceRequest(
                type_code=demo.BUSINESS_LICENCE.type_code,
                licence_number=fuzz.fuzzer.unique("RACE"),
                holder=common_pb2.Holder(number="91350100M000100Y43", name="福州示例科技有限公司"),
                fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
            )
            for _ in range(2)
        ]
    else:
        alias, path, table = "hall", "/yihao.v1.Assistance/SubmitRequest", assistance_requests
        bodies = [_submit_first(fuzz, key) for _ in range(2)]
        bodies[1].case_number = "CASE-RACE-OTHER"
    for body in bodies:
        body.idempotency_key = key
    before = _count(fuzz, table)
    outcomes: list[tuple[int, Outcome]] = []

    def run(i: int) -> None:
        outcomes.append((i % 2, call(fuzz.stack.channel(alias), path, [bodies[i % 2]])))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert _count(fuzz, table) == before + 1
    ok = {body for body, outcome in outcomes if outcome.code == Code.OK}
    assert len(ok) == 1, [(b, o.code.name, o.message) for b, o in outcomes]
    for body, outcome in outcomes:
        expected = Code.OK if body in ok else Code.ABORTED
        assert outcome.code == expected, (body, outcome.code.name, outcome.message)
    answers = {
        getattr(o.responses[0], "licence_id", "") or getattr(o.responses[0], "request_id", "")
        for _, o in outcomes
        if o.code == Code.OK
    }
    assert len(answers) == 1


# --- garbage -------------------------------------------------------------------------------


def _garbage(path: str, blob: bytes) -> bytes:
    """``blob``, made certainly not a message of the method's request type."""
    try:
        METHODS[path].input_type._concrete_class.FromString(blob)
    except DecodeError:
        return blob
    return b"\x0f" + blob  # field 1 with wire type 7: no such wire type


@pytest.mark.parametrize("path", sorted(METHODS))
def test_garbage_fails_cleanly(fuzz: Fuzz, path: str):
    method = METHODS[path]

    @settings(FUZZ, max_examples=GARBAGE_EXAMPLES)
    @given(
        blobs=st.lists(st.binary(min_size=1, max_size=4096), min_size=1, max_size=4),
        valid_first=st.booleans(),
    )
    def run(blobs: list[bytes], valid_first: bool) -> None:
        alias = allowed_aliases(path)[0]
        garbage = [_garbage(path, b) for b in blobs]
        if method.client_streaming and valid_first:
            garbage.insert(0, b"")  # an empty (valid) message, then the garbage
        outcome = call(fuzz.stack.channel(alias), path, garbage, raw=True)
        assert outcome.code not in (Code.OK, Code.DEADLINE_EXCEEDED), outcome

    run()
    ping = fuzz.stack.diagnostics("hall").Ping(
        common_pb2.PingRequest(payload="still there?"), timeout=TIMEOUT
    )
    assert ping.payload == "still there?"


def test_server_keeps_serving_after_the_garbage(fuzz: Fuzz):
    ping = fuzz.stack.diagnostics("hall").Ping(
        common_pb2.PingRequest(payload="hi"), timeout=TIMEOUT
    )
    assert (ping.payload, ping.caller_code) == ("hi", demo.ALIASES["hall"])


# --- invariants, after all of the above -------------------------------------------------


def test_store_is_consistent_after_fuzzing(fuzz: Fuzz):
    with fuzz.stack.app.db.read() as conn:
        rows = conn.execute(select(licences.c.serial, licences.c.current_version)).all()
        versions = {
            tuple(r)
            for r in conn.execute(select(licence_versions.c.serial, licence_versions.c.version))
        }
        events = dict(
            conn.execute(
                select(licence_events.c.serial, func.count()).group_by(licence_events.c.serial)
            ).all()
        )
    assert len(rows) >= 16
    problems = []
    for serial, current in rows:
        if events.get(serial, 0) < 1:
            problems.append((serial, "no event"))
        missing = [v for v in range(1, current + 1) if (serial, v) not in versions]
        if missing:
            problems.append((serial, f"versions {missing} missing of {current}"))
    extra = {(s, v) for s, v in versions if v > dict(rows).get(s, 0)}
    assert not problems and not extra, (problems[:10], sorted(extra)[:10])


def test_log_verifies_after_fuzzing(fuzz: Fuzz):
    fuzz.stack.verifier("hall").GetTreeHead(
        verifier_pb2.GetTreeHeadRequest(fresh=True), timeout=TIMEOUT
    )
    app = fuzz.stack.app
    with app.db.read() as conn:
        report = verify(conn, app.verifier.log_keys, app.read.codec)
    assert report.entries > 0
    assert report.ok, [str(p) for p in report.problems[:10]]


def test_server_still_issues_and_verifies_after_fuzzing(fuzz: Fuzz):
    holder = credit_code("91350100", "70070070")
    issued = fuzz.stack.store("market").IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key=fuzz.fuzzer.unique("final-issue"),
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number=fuzz.fuzzer.unique("FINAL"),
            holder=common_pb2.Holder(number=holder, name="福州最终检查有限公司"),
            fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
        ),
        timeout=TIMEOUT,
    )
    verification = fuzz.stack.verifier("hall").VerifyLicence(
        verifier_pb2.VerifyLicenceRequest(
            licence=licence_store_pb2.LicenceRef(licence_id=issued.licence_id),
            presented_holder_number=holder,
            presented_holder_name="福州最终检查有限公司",
        ),
        timeout=TIMEOUT,
    )
    assert verification.verdict == verifier_pb2.VERDICT_VALID
    assert verification.signature_verified
    assert verification.holder_number_match == verifier_pb2.HOLDER_MATCH_MATCH
    assert verification.licence_id == issued.licence_id
    assert verification.receipt_id
