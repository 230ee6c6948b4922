"""Hostile requests for every RPC, built from the proto descriptors, against a real server.

Every method of every Yihao service is called, as a department its policy allows (now and then
one it does not), with a request generated from the request's descriptor: fields missing or
set, extreme dates and numbers, oversized strings and repeats, control and unassigned
characters, out-of-range enum numbers, extreme timestamps — mixed with well-formed values
(demo codes, a real e-licence identifier) so that handlers get past their first checks — and,
with ``invalid_utf8``, a string field whose bytes on the wire are not UTF-8. The property: no
answer is INTERNAL or UNKNOWN, and the server, and a later ordinary caller, are unharmed.

    python -m testsupport.hostile --requests 50000                  # SQLite
    python -m testsupport.hostile --requests 50000 --database postgresql

prints the counts by status code (and exits 1 if the property failed). The normal test suite
runs a bounded version (``tests/test_hostile.py``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.authz import POLICY
from services.licence_store import demo
from testsupport.samples import BUSINESS_FIELDS
from testsupport.serverproc import ServerProcess, backend, server_process
from yihao.v1 import (
    assistance_pb2,
    common_pb2,
    licence_store_pb2,
    verifier_pb2,
    verifier_pb2_grpc,
)

MODULES = (common_pb2, licence_store_pb2, verifier_pb2, assistance_pb2)
#: Answers that break the property.
BAD = frozenset({"INTERNAL", "UNKNOWN"})
#: Admin calls that would take the demo departments' keys, roles or certificates away from the
#: later callers the run checks on: their hostile requests never name a demo department.
PROTECTED = frozenset(
    {"RegisterDepartment", "RotateSigningKey", "MarkKeyCompromised", "RevokeCertificate"}
)
MARKER = "Zq9HoStIlE"
NOT_UTF8 = b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\x80"  # same length as MARKER
UNARY_TIMEOUT = 10.0
STREAM_TIMEOUT = 0.5  # follow streams never end: they end at their deadline

_I32 = (0, 1, -1, 2**31 - 1, -(2**31))
_I64 = (*_I32, 2**53, 2**63 - 1, -(2**63))
_U32 = (0, 1, 2**32 - 1)
_U64 = (0, 1, 2**64 - 1)
_SECONDS = (0, -62135596800, 253402300799, 2**40, -(2**40), 2**62, 1780272000)
_NANOS = (0, 999_999_999, -1, 1_000_000_000, 2**31 - 1)
_HOSTILE_TEXT = (
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\x1b[31mred",
    "\u202eevil",
    "\ufeff",
    "\U000e0001",
    "\U0010ffff",
    "\U0001f600" * 8,
    "'; DROP TABLE licences; --",
    "%s%n{0}{}",
    "../../etc/passwd",
    "NaN",
    "-1",
    "1e309",
    "9" * 40,
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2026-02-30",
    "0000-00-00",
    "-2026-06-01",
    "2026-06-01T25:61:61Z",
    "１１０１０５１９４９１２３１００２Ｘ",
)


def methods() -> Iterator[tuple[str, MethodDescriptor]]:
    """Every RPC of every service: (path, descriptor)."""
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"/{service.full_name}/{method.name}", method


def _aliases_for(path: str) -> list[str]:
    roles = POLICY.get(path, frozenset())
    return [d.alias for d in demo.DEPARTMENTS if d.roles & roles] or ["data"]


@dataclass
class Generator:
    """Requests built from descriptors, hostile values mixed with well-formed ones."""

    rng: random.Random
    pool: list[str] = field(default_factory=list)
    protected: frozenset[str] = frozenset(d.credit_code for d in demo.DEPARTMENTS)

    def text(self, *, protect: bool = False) -> str:
        r = self.rng.random()
        if r < 0.35 and self.pool:
            value = self.rng.choice(self.pool)
            return "91350100M000100Y43" if protect and value in self.protected else value
        if r < 0.75:
            return self.rng.choice(_HOSTILE_TEXT)
        if r < 0.85:
            return self.rng.choice("长a\U00020000é") * self.rng.choice((65, 201, 513, 4097))
        if r < 0.88:
            return "长" * self.rng.choice((100_000, 400_000))
        return "".join(chr(self.rng.randrange(0x20, 0x3000)) for _ in range(self.rng.randrange(40)))

    def scalar(self, f: FieldDescriptor, protect: bool) -> Any:
        t = f.type
        if t == FieldDescriptor.TYPE_STRING:
            return self.text(protect=protect)
        if t == FieldDescriptor.TYPE_BYTES:
            return self.rng.choice(
                (b"", b"\x00" * 3, bytes(self.rng.randrange(256) for _ in range(64)), b"x" * 70_000)
            )
        if t == FieldDescriptor.TYPE_BOOL:
            return self.rng.random() < 0.5
        if t == FieldDescriptor.TYPE_ENUM:
            assert f.enum_type is not None
            values = [v.number for v in f.enum_type.values]
            return self.rng.choice([*values, 999, -5, 2**31 - 1])
        if t in (
            FieldDescriptor.TYPE_INT32,
            FieldDescriptor.TYPE_SINT32,
            FieldDescriptor.TYPE_SFIXED32,
        ):
            return self.rng.choice(_I32)
        if t in (
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_SFIXED64,
        ):
            return self.rng.choice(_I64)
        if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
            return self.rng.choice(_U32)
        if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
            return self.rng.choice(_U64)
        return self.rng.choice((0.0, -1.0, float("inf"), float("nan"), 1e308))

    def message(self, msg: Message, depth: int = 0, *, protect: bool = False) -> Message:
        """Fill ``msg`` (in place) from its descriptor; returns it."""
        descriptor = msg.DESCRIPTOR
        if descriptor.full_name == "google.protobuf.Timestamp":
            msg.seconds = self.rng.choice(_SECONDS)  # type: ignore[attr-defined]
            msg.nanos = self.rng.choice(_NANOS)  # type: ignore[attr-defined]
            return msg
        for f in descriptor.fields:
            if self.rng.random() < 0.35:
                continue  # missing
            if f.containing_oneof is not None and self.rng.random() < 0.5:
                continue
            self._field(msg, f, depth, protect)
        return msg

    def _field(self, msg: Message, f: Any, depth: int, protect: bool) -> None:
        target = getattr(msg, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_f, value_f = (
                f.message_type.fields_by_name["key"],
                f.message_type.fields_by_name["value"],
            )
            for _ in range(self._count()):
                key = self.scalar(key_f, protect)
                if value_f.message_type is None:
                    target[key] = self.scalar(value_f, protect)
                elif depth < 3:
                    self.message(target[key], depth + 1, protect=protect)
            return
        if f.is_repeated:
            for _ in range(self._count()):
                if f.message_type is not None:
                    if depth < 3:
                        self.message(target.add(), depth + 1, protect=protect)
                else:
                    target.append(self.scalar(f, protect))
            return
        if f.message_type is not None:
            if depth < 3:
                self.message(target, depth + 1, protect=protect)
            return
        setattr(msg, f.name, self.scalar(f, protect))

    def _count(self) -> int:
        r = self.rng.random()
        return 0 if r < 0.3 else 1 if r < 0.6 else 3 if r < 0.85 else 50 if r < 0.97 else 2000

    def request(self, method: MethodDescriptor, *, invalid_utf8: bool) -> bytes:
        """One request's bytes (a string somewhere not UTF-8, if ``invalid_utf8``)."""
        cls = method.input_type._concrete_class  # type: ignore[attr-defined]
        protect = method.name in PROTECTED
        msg = self.message(cls(), protect=protect)
        if invalid_utf8 and _plant_marker(msg, self.rng):
            return msg.SerializeToString().replace(MARKER.encode(), NOT_UTF8, 1)
        return msg.SerializeToString()


def _plant_marker(msg: Message, rng: random.Random) -> bool:
    """Set one string field (top level or one level down) to :data:`MARKER`."""
    strings = [f for f in msg.DESCRIPTOR.fields if f.type == FieldDescriptor.TYPE_STRING]
    if strings:
        f = rng.choice(strings)
        if f.is_repeated:
            getattr(msg, f.name).append(MARKER)
        else:
            setattr(msg, f.name, MARKER)
        return True
    for f in msg.DESCRIPTOR.fields:
        if f.message_type is not None and not f.is_repeated and f.containing_oneof is None:
            inner = f.message_type.fields_by_name
            for name, g in inner.items():
                if g.type == FieldDescriptor.TYPE_STRING and not g.is_repeated:
                    setattr(getattr(msg, f.name), name, MARKER)
                    return True
    return False


def _identity(b: bytes) -> bytes:
    return b


def call(channel: grpc.Channel, path: str, method: MethodDescriptor, payloads: list[bytes]) -> str:
    """Send ``payloads`` as one call; the status code's name."""
    try:
        if method.client_streaming and method.server_streaming:
            stream = channel.stream_stream(path, _identity, _identity)
            for _ in _limited(stream(iter(payloads), timeout=STREAM_TIMEOUT)):
                pass
        elif method.server_streaming:
            responses = channel.unary_stream(path, _identity, _identity)(
                payloads[0], timeout=STREAM_TIMEOUT
            )
            for _ in _limited(responses):
                pass
        elif method.client_streaming:
            channel.stream_unary(path, _identity, _identity)(iter(payloads), timeout=UNARY_TIMEOUT)
        else:
            channel.unary_unary(path, _identity, _identity)(payloads[0], timeout=UNARY_TIMEOUT)
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return "OK"


def _limited(responses: Any, most: int = 20) -> Iterator[bytes]:
    for i, response in enumerate(responses):
        yield response
        if i + 1 >= most:
            responses.cancel()
            return


@dataclass
class Run:
    """The outcome of a run: counts by status code, and the bad answers' RPCs."""

    counts: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)
    deadlines: Counter[str] = field(default_factory=Counter)  # RPCs that ran out of time
    per_method: Counter[str] = field(default_factory=Counter)  # requests sent, by RPC path
    requests: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.bad

    def report(self) -> str:
        codes = ", ".join(f"{code} {n}" for code, n in self.counts.most_common())
        lines = [f"{self.requests} hostile requests in {self.seconds:.1f} s: {codes}"]
        lines += [f"  {n} x {what}" for what, n in self.bad.most_common()]
        if self.deadlines:
            slow = ", ".join(f"{m} {n}" for m, n in self.deadlines.most_common())
            lines.append(f"  out of time: {slow}")
        return "\n".join(lines)


def seed(server: ServerProcess) -> list[str]:
    """Well-formed values to mix in: demo codes and a real licence."""
    licence = server.store("market").IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key="hostile-seed-0001",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="HOSTILE-0001",
            holder=common_pb2.Holder(number="91350100M000100Y43", name="示例有限公司"),
            fields=BUSINESS_FIELDS,
        )
    )
    # A real consent grant, so consent calls and the reads naming one get past their first
    # checks (GrantConsent, ListConsents, RevokeConsent, CheckConsent; consent_grant_id).
    expires = timestamp_pb2.Timestamp(seconds=int(time.time()) + 7 * 86400)
    grant = server.store("portal").GrantConsent(
        licence_store_pb2.GrantConsentRequest(
            holder_number="11010519491231002X",
            department_code=demo.ALIASES["housing"],
            type_codes=[demo.QUALIFICATION_CERTIFICATE.type_code],
            case_number="ZJ-2026-0001",
            expires_at=expires,
        )
    )
    return [
        licence.licence_id,
        licence.licence_number,
        licence.type_code,
        grant.grant_id,
        "XZXZ-RS-001",
        *(t.type_code for t in demo.LICENCE_TYPES),
        *(d.credit_code for d in demo.DEPARTMENTS),
        "11010519491231002X",
        "91350100M000100Y43",
        "XZXZ-MZ-001",
        "XZXZ-GA-001",
        "2026-06-01",
        "户籍业务",
    ]


def run(
    server: ServerProcess,
    requests: int,
    *,
    seed_value: int = 20261204,
    invalid_utf8: bool = True,
    budget_seconds: float | None = None,
    at_least: int = 0,
) -> Run:
    """Send ``requests`` hostile requests: fewer if ``budget_seconds`` runs out, but never
    fewer than ``at_least`` (the budget bounds a run's length, not what it proves, so a loaded
    machine makes the run slower rather than smaller)."""
    rng = random.Random(seed_value)
    gen = Generator(rng, seed(server))
    all_methods = list(methods())
    channels = {d.alias: server.channel(d.alias) for d in demo.DEPARTMENTS}
    out = Run()
    start = time.monotonic()
    try:
        for i in range(requests):
            if i >= at_least and _spent(start, budget_seconds):
                break
            path, method = all_methods[i % len(all_methods)]
            allowed = _aliases_for(path)
            alias = rng.choice(allowed) if rng.random() < 0.9 else rng.choice(list(channels))
            bad_utf8 = invalid_utf8 and rng.random() < 0.1
            count = rng.choice((1, 1, 2, 3)) if method.client_streaming else 1
            payloads = [gen.request(method, invalid_utf8=bad_utf8) for _ in range(count)]
            code = call(channels[alias], path, method, payloads)
            out.counts[code] += 1
            out.requests += 1
            out.per_method[path] += 1
            if code == "DEADLINE_EXCEEDED":
                out.deadlines[path.rsplit("/", 1)[1]] += 1
            if code in BAD:
                out.bad[f"{code} {path} as {alias}{' (invalid UTF-8)' if bad_utf8 else ''}"] += 1
    finally:
        out.seconds = time.monotonic() - start
        for channel in channels.values():
            channel.close()
    return out


def _spent(start: float, budget_seconds: float | None) -> bool:
    return budget_seconds is not None and time.monotonic() - start > budget_seconds


def still_serving(server: ServerProcess) -> list[str]:
    """What is wrong with the server after a run, for a later ordinary caller ([] = nothing)."""
    problems = []
    if server.proc.poll() is not None:
        return [f"the server exited with {server.proc.returncode}"]
    with server.channel("hall") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=10
        )
        if health.status != health_pb2.HealthCheckResponse.SERVING:
            problems.append(f"health is {health.status}")
        verdict = verifier_pb2_grpc.VerifierStub(channel).VerifyLicence(
            verifier_pb2.VerifyLicenceRequest(
                licence=licence_store_pb2.LicenceRef(
                    type_and_number=licence_store_pb2.TypeAndNumber(
                        type_code=demo.BUSINESS_LICENCE.type_code, licence_number="HOSTILE-0001"
                    )
                )
            ),
            timeout=10,
        )
        if verdict.verdict != verifier_pb2.VERDICT_VALID:
            problems.append(f"a seeded licence verified as {verdict.verdict}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--no-invalid-utf8", action="store_true", help="leave every string valid UTF-8"
    )
    args = parser.parse_args(argv)
    with backend(args.database) as url, server_process(url) as server:
        result = run(
            server, args.requests, seed_value=args.seed, invalid_utf8=not args.no_invalid_utf8
        )
        problems = still_serving(server)
    print(result.report())
    for problem in problems:
        print(f"after the run: {problem}")
    return 0 if result.ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
