"""What the fuzzer aims with: the RPCs, hostile values, valid identifiers, and the pool of
real values a running server knows."""

from __future__ import annotations

import base64
import json
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2

from services import demo as catalogue_demo
from services.common.authz import POLICY
from services.common.licence_ids import parse_licence_identifier
from services.licence_store import demo
from services.licence_store.domain.licence import REASON_CODES
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2

MODULES = (common_pb2, licence_store_pb2, verifier_pb2, assistance_pb2)
EXAMPLES = int(os.environ.get("YIHAO_FUZZ_EXAMPLES", "25"))
GARBAGE_EXAMPLES = max(3, EXAMPLES // 3)
TIMEOUT = 10.0
#: Rate limits out of the way: the fuzzer calls far faster than any department would.
NO_RATE_LIMITS = json.dumps(
    {
        kind: [1e9, 1_000_000_000]
        for kind in ("default", "verify", "verify_by_holder", "list_by_holder", "issue", "stream")
    }
)

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # the server's state is not replayable anyway; write nothing to the repo
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.function_scoped_fixture,
    ],
)

Code = grpc.StatusCode
ALLOWED_CODES = frozenset(
    {
        Code.OK,
        Code.INVALID_ARGUMENT,
        Code.NOT_FOUND,
        Code.ALREADY_EXISTS,
        Code.FAILED_PRECONDITION,
        Code.PERMISSION_DENIED,
        Code.ABORTED,
        Code.RESOURCE_EXHAUSTED,
        Code.OUT_OF_RANGE,
        Code.UNAUTHENTICATED,
    }
)


def _methods() -> Iterator[tuple[str, Any]]:
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"/{service.full_name}/{method.name}", method


METHODS: dict[str, Any] = dict(_methods())
ALIAS_OF = {d.credit_code: d.alias for d in demo.DEPARTMENTS}
DEMO_CODES = frozenset(ALIAS_OF)
TYPE_OF_ISSUER = {
    "market": demo.BUSINESS_LICENCE,
    "civil": demo.MARRIAGE_CERTIFICATE,
    "police": demo.RESIDENCE_PERMIT,
    "hrss": demo.QUALIFICATION_CERTIFICATE,
}
TYPE_CODES = [t.type_code for t in demo.LICENCE_TYPES]


def allowed_aliases(path: str) -> list[str]:
    """Demo departments holding a role the policy table allows for ``path``."""
    return [d.alias for d in demo.DEPARTMENTS if d.roles & POLICY[path]]


# ----------------------------------------------------------------------------- identifiers


def credit_code(prefix: str, body: str) -> str:
    """A valid unified social credit code: ``prefix`` (8) + organisation code body (8)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    # GB 11714 values: 0-9 for digits, 10-35 for A-Z (not the credit-code alphabet's positions)
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in body]
    check = 11 - sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    code17 = prefix + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return code17 + uscc.calc_check_digit(code17)


def citizen_id(region: str, born: date, sequence: int) -> str:
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + mod_11_2.calc_check_digit(body)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


credit_codes = st.builds(
    credit_code,
    st.sampled_from(["91350100", "11350100", "12350100", "52350100", "Y1350100", "93110000"]),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
)
citizen_ids = st.builds(
    citizen_id,
    st.sampled_from(["110105", "350102", "350100", "440305", "999999", "000000"]),
    st.dates(date(1900, 1, 1), date(2026, 11, 1)),
    st.integers(0, 999),
)
legacy_ids = st.builds(
    lambda region, born, seq: f"{region}{born:%y%m%d}{seq:03d}",
    st.sampled_from(["110105", "350102"]),
    st.dates(date(1900, 1, 1), date(1999, 12, 31)),
    st.integers(0, 999),
)


def mutations(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value as such, or broken in one of the ways people break them."""

    def variants(v: str) -> list[str]:
        if not v:
            return [v]
        flipped = v[:-1] + ("0" if v[-1] != "0" else "1")
        return [
            v,
            v.lower(),
            f" {v[:6]} {v[6:]}\t",
            v[:-1],
            v + v[-1],
            flipped,
            _fullwidth(v),
            v.replace("0", "O").replace("1", "I"),
            v[::-1],
            v + "\x00",
            v + "'; DROP TABLE licences; --",
            v * 50,
        ]

    return valid.flatmap(lambda v: st.sampled_from(variants(v)))


# --------------------------------------------------------------------------------- strings

SQL = (
    "'; DROP TABLE licences; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "1; DELETE FROM licence_events",
    "%",
    "_",
    "%' --",
    "\\",
    "' UNION SELECT serial, holder_sealed FROM licences --",
)
PATHS = ("../../etc/passwd", "..\\..\\windows\\win.ini", "/dev/zero", "file:///etc/shadow", ".")
NASTY = (
    *SQL,
    *PATHS,
    "",
    " ",
    "\x00",
    "a\x00b",
    "\t\n\r",
    "\u3000",
    "${jndi:ldap://127.0.0.1/x}",
    "{{7*7}}",
    "%s%s%s%n",
    "<script>alert(1)</script>",
    "NaN",
    "-Infinity",
    "1e309",
    "-0",
    "null",
    "[]",
    "{}",
    "\u202eevil\u202c",
    "\u200b",
    "\ufeff",
    "\U0001f600",
    "\U00020bb7野家",  # outside the BMP
    "مرحبا",
    "Ω≈ç√",
    "ｔｅｓｔ",
    "１１０１０５",
    "A" * 129,
    "9" * 40,
)
LONG_UNITS = ("A", "中", "\x01", "'; DROP TABLE x; --", "\U0001f600", "ab\u0301", " ")
CONTROL = "".join(map(chr, [*range(32), 127, *range(0x80, 0xA0), 0x2028, 0x2029, 0xFFFE]))


def _long(unit: str, size: int) -> str:
    """``unit`` repeated to about ``size`` UTF-8 bytes (built, not drawn: drawing is slow)."""
    return unit * max(1, size // len(unit.encode()))


long_texts = st.builds(_long, st.sampled_from(LONG_UNITS), st.integers(100, 100_000))
generic_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.text(st.sampled_from(CONTROL + "a中 "), max_size=20),
    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=30),
    st.text(string.ascii_letters + string.digits + "-_.:", max_size=40),
    long_texts,
)

DATES = (
    "2026-06-01",
    "1970-01-01",
    "0001-01-01",
    "9999-12-31",
    "9999-12-30",
    "9999-06-01",
    "2024-02-29",
    "2026-02-29",
    "2026-13-01",
    "2026-00-10",
    "0000-01-01",
    "2026-6-1",
    "2026/06/01",
    "20260601",
    " 2026-06-01 ",
    "２０２６-０６-０１",
    "2026-06-01T00:00:00",
    "-2026-06-01",
)


def qr_with_body(body: str) -> str:
    """A QR payload of the right shape around ``body`` (its signature cannot be right)."""
    return f"YH1.{base64.urlsafe_b64encode(body.encode()).decode().rstrip('=')}.AAAA"


qr_bodies = st.one_of(
    st.builds(lambda n: "[" * n, st.integers(1, 1530)),  # unbalanced: fits in 2048 characters
    st.builds(lambda n: '{"k":"x","a":' + "[" * n, st.integers(1, 1500)),
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 760)),
    st.sampled_from(['{"k": 1}', '{"k": "x"}', '{"k": "x", "exp": "soon"}', "[]", "NaN"]),
)

#: Ways to edit a signed document's JSON (the signature then no longer matches).
EDITS = (
    ("version_at", "2026-01-01T00:00:00"),  # no offset
    ("version_at", "9999-12-31T23:59:59+00:00"),
    ("version_at", "not a date"),
    ("version_at", 12),
    ("version", "x"),
    ("issuer_code", ["a"]),
    ("licence_id", None),
    ("fields", "oops"),
)


def json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    )


def edited_document(document: verifier_pb2.SignedDocument | None, edit: tuple[str, Any]) -> str:
    content = json.loads(document.content_json) if document else {}
    content[edit[0]] = edit[1]
    return json.dumps(content, ensure_ascii=False)


dates = st.one_of(
    st.sampled_from(DATES), st.dates().map(date.isoformat), st.dates().map(date.isoformat)
)


@dataclass
class Pool:
    """Real values the server knows (ids, numbers, keys...), growing as the fuzzer creates."""

    licence_ids: list[str] = field(default_factory=list)
    by_issuer: dict[str, list[str]] = field(default_factory=dict)  # alias -> licence ids
    type_numbers: list[tuple[str, str]] = field(default_factory=list)
    persons: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)
    receipt_ids: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)
    qr_payloads: list[str] = field(default_factory=list)
    documents: list[verifier_pb2.SignedDocument] = field(default_factory=list)
    log_refs: list[str] = field(default_factory=list)

    CAP = 400

    def add(self, values: list[Any], value: Any) -> None:
        if value and value not in values:
            values.append(value)
            if len(values) > self.CAP:
                del values[: len(values) - self.CAP]

    def add_licence(self, licence_id: str) -> None:
        self.add(self.licence_ids, licence_id)
        try:
            issuer = parse_licence_identifier(licence_id).issuer_code
        except Exception:
            return
        if issuer in ALIAS_OF:
            self.add(self.by_issuer.setdefault(ALIAS_OF[issuer], []), licence_id)


def one_of_pool(values: list[Any], fallback: Any = "") -> st.SearchStrategy[Any]:
    """Any element of a list that may still grow (``sampled_from`` would freeze it)."""
    return st.integers(0, 1 << 30).map(lambda i: values[i % len(values)] if values else fallback)


# ------------------------------------------------------------------------- the fuzzer


TIMESTAMP = "google.protobuf.Timestamp"
INT32 = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32)
INT64 = (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64)
INT32_EDGES = (0, 1, -1, 2, 29, 30, 31, 50, 100, 101, 500, 501, 999, 1000, 1001, 3600, 3601)
NOW = int(datetime.now(UTC).timestamp())
SECONDS_EDGES = (
    0,
    -1,
    1,
    NOW,
    NOW + 3600,
    NOW + 86400 * 400,
    253402300799,  # 9999-12-31T23:59:59Z
    253402300800,
    -62135596800,  # 0001-01-01
    -62135596801,
    2**63 - 1,
    -(2**63),
    2**31,
)

DEPT_FIELDS = {
    "credit_code",
    "provider_code",
    "requester_code",
    "issuer_code",
    "department_code",
    "by_code",
    "definer_code",
    "issuer_codes",
    "requester_codes",
    "department_codes",
}
TYPE_FIELDS = {"type_code", "licence_type_code", "type_codes"}
HOLDER_FIELDS = {"holder_number", "applicant_number", "presented_holder_number"}
NAME_FIELDS = {"holder_name", "presented_holder_name", "applicant_name"}
REASON_FIELDS = {"reason_code", "ground", "refusal_grounds", "refusal_ground"}
FIELD_NAMES = sorted(
    {f.name for t in demo.LICENCE_TYPES for f in t.fields}
    | {"licence_number", "holder_name", "valid_from", "valid_until", "status", "has_record"}
)
ITEM_CODES = [i.code for i in catalogue_demo.ASSISTANCE_ITEMS]
SERVICE_ITEM_CODES = [i.code for i in catalogue_demo.SERVICE_ITEMS]
ALL_REASONS = sorted(set().union(*REASON_CODES.values()))
GROUNDS = sorted({g for i in catalogue_demo.ASSISTANCE_ITEMS for g in i.refusal_grounds})
