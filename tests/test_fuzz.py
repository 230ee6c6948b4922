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

Bugs found are reproduced exactly at the end: open ones by a strict-xfail ``test_bug_*`` (the
fuzz tests recognise them by their server traceback, :data:`KNOWN_BUGS`, and let them pass, so
they keep finding new ones), fixed ones by a ``test_regression_*``.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import random
import string
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2

from services.assistance import demo as assistance_demo
from services.assistance.persistence.tables import assistance_requests
from services.audit import verify
from services.common import audit_log
from services.common.authz import POLICY
from services.common.identifiers import ROOT, parse_licence_identifier
from services.common.paging import encode_token
from services.common.pki import DevPki
from services.licence_store import demo
from services.licence_store.domain.licence import REASON_CODES
from services.licence_store.persistence.tables import licence_events, licence_versions, licences
from services.verifier import materials
from testsupport.stack import Stack, settings_for, start_stack
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


def _credit_code(prefix: str, body: str) -> str:
    """A valid unified social credit code: ``prefix`` (8) + organisation code body (8)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    # GB 11714 values: 0-9 for digits, 10-35 for A-Z (not the credit-code alphabet's positions)
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in body]
    check = 11 - sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    code17 = prefix + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return code17 + uscc.calc_check_digit(code17)


def _citizen_id(region: str, born: date, sequence: int) -> str:
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + mod_11_2.calc_check_digit(body)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


credit_codes = st.builds(
    _credit_code,
    st.sampled_from(["91350100", "11350100", "12350100", "52350100", "Y1350100", "93110000"]),
    st.text("0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
)
citizen_ids = st.builds(
    _citizen_id,
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


def _qr_with_body(body: str) -> str:
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


def _json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    )


def _edited_document(document: verifier_pb2.SignedDocument | None, edit: tuple[str, Any]) -> str:
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
ITEM_CODES = [i.code for i in assistance_demo.ITEMS]
SERVICE_ITEM_CODES = [i.code for i in materials.DEMO_ITEMS]
ALL_REASONS = sorted(set().union(*REASON_CODES.values()))
GROUNDS = sorted({g for i in assistance_demo.ITEMS for g in i.refusal_grounds})


class Fuzzer:
    """Hypothesis strategies for any request message, driven by its descriptor."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.counter = itertools.count(1)
        self._cache: dict[tuple[str, int], st.SearchStrategy[Message]] = {}
        p = pool
        holders = st.one_of(
            one_of_pool(p.persons),
            one_of_pool(p.organisations),
            citizen_ids,
            credit_codes,
            legacy_ids,
            mutations(st.one_of(one_of_pool(p.persons), one_of_pool(p.organisations))),
        )
        dept_codes = st.one_of(
            st.sampled_from(sorted(DEMO_CODES)), credit_codes, mutations(credit_codes)
        )
        type_codes = st.one_of(
            st.sampled_from(TYPE_CODES),
            st.builds(lambda c, n: f"{c}{n:03d}", dept_codes, st.integers(0, 999)),
            mutations(st.sampled_from(TYPE_CODES)),
        )
        licence_ids = st.one_of(
            one_of_pool(p.licence_ids),
            mutations(one_of_pool(p.licence_ids)),
            st.builds(self._minted, one_of_pool(p.licence_ids), st.integers(-2, 1002)),
            st.just("1.2.156.3005.2"),
            st.just("1.2.156.3005.2.a.b.c.d.e"),
        )
        tokens = st.one_of(
            st.builds(encode_token, generic_text),
            st.builds(encode_token, st.sampled_from(SQL)),
            st.builds(encode_token, st.text(st.characters(categories=["Nd", "No"]), max_size=30)),
            st.builds(encode_token, st.integers(-(2**80), 2**80).map(str)),
            st.just("v1:"),
            st.just("=" * 300),
        )
        self.strings: dict[str, st.SearchStrategy[str]] = {
            **dict.fromkeys(DEPT_FIELDS, dept_codes),
            **dict.fromkeys(TYPE_FIELDS, type_codes),
            **dict.fromkeys(HOLDER_FIELDS, holders),
            "Holder.number": holders,
            **dict.fromkeys(
                NAME_FIELDS, st.sampled_from(["张三", "福州示例科技有限公司", "王 芳"])
            ),
            "licence_id": licence_ids,
            "licence_number": st.one_of(
                one_of_pool(p.type_numbers).map(lambda tn: tn[1] if tn else ""),
                st.text(string.ascii_uppercase + string.digits + "-", max_size=70),
            ),
            "idempotency_key": st.one_of(
                st.text(string.ascii_letters + string.digits + "._:-", min_size=8, max_size=128),
                st.text(string.ascii_letters, max_size=7),
                st.just("k" * 129),
            ),
            "page_token": tokens,
            "request_id": st.one_of(
                one_of_pool(p.request_ids), mutations(one_of_pool(p.request_ids))
            ),
            "receipt_id": st.one_of(
                one_of_pool(p.receipt_ids), mutations(one_of_pool(p.receipt_ids))
            ),
            "key_id": st.one_of(one_of_pool(p.key_ids), mutations(one_of_pool(p.key_ids))),
            "ref": st.one_of(
                one_of_pool(p.log_refs),
                one_of_pool(p.receipt_ids),
                one_of_pool(p.request_ids),
                mutations(one_of_pool(p.log_refs)),
            ),
            "qr_payload": st.one_of(
                one_of_pool(p.qr_payloads),
                mutations(one_of_pool(p.qr_payloads)),
                st.builds(
                    lambda a, b, c: f"YH1.{a}.{b}.{c}", generic_text, generic_text, generic_text
                ),
                st.builds(_qr_with_body, qr_bodies),
                st.just("YH1.."),
            ),
            "content_json": st.one_of(
                one_of_pool(p.documents).map(lambda d: d.content_json if d else "{}"),
                st.builds(_edited_document, one_of_pool(p.documents), st.sampled_from(EDITS)),
                st.builds(lambda n: "[" * n + "]" * n, st.integers(100, 200_000)),
                st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(100, 50_000)),
                st.sampled_from(['{"version": 1e999999}', "NaN", '{"a": NaN}', "\ufeff{}", "{"]),
                st.builds(
                    json.dumps,
                    st.recursive(
                        st.none() | st.integers() | st.text(), _json_containers, max_leaves=20
                    ),
                ),
            ),
            "serial_number": st.one_of(
                st.text("0123456789ABCDEFabcdef:", min_size=1, max_size=70), generic_text
            ),
            "region": st.sampled_from(["350100", "110105", "000000", "35010", "3501000", "ABCDEF"]),
            "valid_from": dates,
            "valid_until": dates,
            "check_by": dates,
            **dict.fromkeys(REASON_FIELDS, st.sampled_from([*ALL_REASONS, *GROUNDS])),
            "item_code": st.sampled_from([*ITEM_CODES, *SERVICE_ITEM_CODES]),
            "AssistanceItem.code": st.sampled_from([*ITEM_CODES, "FZ-NEW-1"]),
            "fields": st.sampled_from(FIELD_NAMES),
            "requested_fields": st.sampled_from(FIELD_NAMES),
            "unmasked_fields": st.sampled_from(FIELD_NAMES),
            "FieldSpec.name": st.sampled_from([*FIELD_NAMES, "A", "_x", "x" * 65]),
            "purpose": st.sampled_from(["职业资格审查", "人才引进审核", "住房保障资格审核"]),
            "allowed_purposes": st.sampled_from(["职业资格审查", "人才引进审核"]),
        }
        self.map_keys = st.one_of(st.sampled_from(FIELD_NAMES), generic_text)
        self.map_values = st.one_of(
            st.sampled_from(["500", "1000.50", "true", "2020-05-22", "男", "85", "无", "-1"]),
            dates,
            st.integers(-(2**70), 2**70).map(str),
            st.builds(lambda n: "9" * n, st.integers(15, 5000)),
            st.builds(lambda n: "1." + "0" * n, st.integers(1, 5000)),
            generic_text,
        )
        self.templates: dict[str, Callable[[Any, str], Message]] = {
            "yihao.v1.IssueLicenceRequest": self.t_issue,
            "yihao.v1.ImportRecord": self.t_import,
            "yihao.v1.ImportLicencesRequest": self.t_import_message,
            "yihao.v1.ChangeLicenceRequest": self.t_change,
            "yihao.v1.RenewLicenceRequest": self.t_renew,
            "yihao.v1.StatusChangeRequest": self.t_status,
            "yihao.v1.GetLicenceRequest": self.t_get,
            "yihao.v1.ListLicencesByHolderRequest": self.t_list_by_holder,
            "yihao.v1.WatchEventsRequest": self.t_watch_events,
            "yihao.v1.RegisterDepartmentRequest": self.t_register_department,
            "yihao.v1.GetDepartmentRequest": self.t_get_department,
            "yihao.v1.RotateSigningKeyRequest": self.t_get_department,
            "yihao.v1.MarkKeyCompromisedRequest": self.t_mark_compromised,
            "yihao.v1.RevokeCertificateRequest": self.t_revoke_certificate,
            "yihao.v1.RegisterLicenceTypeRequest": self.t_register_type,
            "yihao.v1.GetLicenceTypeRequest": self.t_get_type,
            "yihao.v1.VerifyLicenceRequest": self.t_verify,
            "yihao.v1.VerifyBatchRequest": self.t_verify_batch,
            "yihao.v1.VerifyByHolderRequest": self.t_verify_by_holder,
            "yihao.v1.VerifyDocumentRequest": self.t_verify_document,
            "yihao.v1.ExportDocumentRequest": self.t_export,
            "yihao.v1.IssueQrPayloadRequest": self.t_qr,
            "yihao.v1.GetReceiptRequest": self.t_receipt,
            "yihao.v1.CheckMaterialsRequest": self.t_check_materials,
            "yihao.v1.GetInclusionProofRequest": self.t_inclusion,
            "yihao.v1.GetConsistencyProofRequest": self.t_consistency,
            "yihao.v1.RegisterItemRequest": self.t_register_item,
            "yihao.v1.SubmitRequestRequest": self.t_submit,
            "yihao.v1.GetRequestRequest": self.t_request_id,
            "yihao.v1.AnswerRequest": self.t_answer,
            "yihao.v1.RefuseRequest": self.t_refuse,
            "yihao.v1.UrgeRequest": self.t_urge,
            "yihao.v1.ListAccessRecordsRequest": self.t_access_records,
            "yihao.v1.RecordCommitmentRequest": self.t_commitment,
        }

    # --- values ------------------------------------------------------------------------

    @staticmethod
    def _minted(licence_id: str, version: int) -> str:
        """An existing licence's identifier with another version number, with the right check
        character where there is one (versions 1-999), else a plausible one."""
        try:
            ident = parse_licence_identifier(licence_id)
        except Exception:
            return licence_id
        if 1 <= version <= 999:
            return str(replace(ident, version=version))
        return f"{ROOT}.{ident.type_code}.{ident.issuer_code}.{ident.serial}.{version:03d}.0"

    def string(self, f: FieldDescriptor) -> st.SearchStrategy[str]:
        special = self.strings.get(f"{f.containing_type.name}.{f.name}")
        if special is None:
            special = self.strings.get(f.name)
        return generic_text if special is None else st.one_of(special, special, generic_text)

    def scalar(self, f: FieldDescriptor) -> st.SearchStrategy[Any]:
        t = f.type
        if t == FieldDescriptor.TYPE_STRING:
            return self.string(f)
        if t == FieldDescriptor.TYPE_BYTES:
            return st.one_of(
                st.binary(max_size=128),
                one_of_pool(self.pool.documents).map(lambda d: d.signature.value if d else b""),
            )
        if t == FieldDescriptor.TYPE_BOOL:
            return st.booleans()
        if t in INT32:
            return st.one_of(
                st.sampled_from([*INT32_EDGES, 2**31 - 1, -(2**31)]),
                st.integers(-(2**31), 2**31 - 1),
                st.integers(-5, 1100),
            )
        if t in INT64:
            return st.one_of(
                st.sampled_from([*INT32_EDGES, 2**63 - 1, -(2**63), 2**31]),
                st.integers(-(2**63), 2**63 - 1),
                st.integers(-5, 5000),
            )
        if t == FieldDescriptor.TYPE_ENUM:
            known = [v.number for v in f.enum_type.values]
            return st.one_of(
                st.sampled_from(known), st.sampled_from(known), st.integers(-(2**31), 2**31 - 1)
            )
        if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return st.floats(width=32 if t == FieldDescriptor.TYPE_FLOAT else 64)
        return st.integers(0, 2**32 - 1)  # unsigned kinds (none in requests today)

    def timestamp(self) -> st.SearchStrategy[Message]:
        from google.protobuf.timestamp_pb2 import Timestamp

        return st.builds(
            lambda s, n: Timestamp(seconds=s, nanos=n),
            st.one_of(st.sampled_from(SECONDS_EDGES), st.integers(-(2**63), 2**63 - 1)),
            st.one_of(st.just(0), st.integers(0, 999_999_999), st.integers(-(2**31), 2**31 - 1)),
        )

    # --- messages ------------------------------------------------------------------------

    def message(self, desc: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        """Any message of type ``desc``: fields set at random from the strategies above."""
        key = (desc.full_name, depth)
        if key not in self._cache:
            if desc.full_name == TIMESTAMP:
                self._cache[key] = self.timestamp()
            else:
                self._cache[key] = st.composite(lambda draw: self._build(draw, desc, depth))()
        return self._cache[key]

    def _build(self, draw: Any, desc: Descriptor, depth: int) -> Message:
        msg = desc._concrete_class()
        chosen = {
            o.name: draw(st.sampled_from([None, *(f.name for f in o.fields)])) for o in desc.oneofs
        }
        for f in desc.fields:
            if f.containing_oneof is not None:
                if chosen[f.containing_oneof.name] == f.name:
                    self._set(draw, msg, f, depth)
            elif draw(st.booleans()):
                self._set(draw, msg, f, depth)
        return msg

    def _set(self, draw: Any, msg: Message, f: FieldDescriptor, depth: int) -> None:
        sub = f.message_type
        if sub is not None and sub.GetOptions().map_entry:
            key_f, value_f = sub.fields_by_name["key"], sub.fields_by_name["value"]
            keys = (
                self.map_keys if key_f.type == FieldDescriptor.TYPE_STRING else self.scalar(key_f)
            )
            values = (
                self.map_values
                if value_f.type == FieldDescriptor.TYPE_STRING
                else self.scalar(value_f)
            )
            for k, v in draw(st.dictionaries(keys, values, max_size=6)).items():
                getattr(msg, f.name)[k] = v
        elif f.is_repeated:
            item = self.message(sub, depth + 1) if sub is not None else self.scalar(f)
            getattr(msg, f.name).extend(draw(st.lists(item, max_size=3 if sub else 5)))
        elif sub is not None:
            if depth < 4:
                getattr(msg, f.name).CopyFrom(draw(self.message(sub, depth + 1)))
        else:
            setattr(msg, f.name, draw(self.scalar(f)))

    def _mutate(self, draw: Any, msg: Message, depth: int = 0) -> None:
        """Replace (or clear) one field somewhere in ``msg`` with a generated value."""
        desc = msg.DESCRIPTOR
        if not desc.fields:
            return
        f = draw(st.sampled_from(list(desc.fields)))
        sub = f.message_type
        descend = draw(st.booleans()) and (
            sub is not None
            and not f.is_repeated
            and sub.full_name != TIMESTAMP
            and msg.HasField(f.name)
        )
        if descend:
            self._mutate(draw, getattr(msg, f.name), depth + 1)
            return
        msg.ClearField(f.name)
        if draw(st.integers(0, 4)):
            self._set(draw, msg, f, depth)

    def request(self, desc: Descriptor, alias: str) -> st.SearchStrategy[Message]:
        """From scratch, or a valid request for ``alias`` with 0-3 fields replaced."""
        template = self.templates.get(desc.full_name)

        @st.composite
        def mutated(draw: Any) -> Message:
            msg = template(draw, alias) if template else desc._concrete_class()
            for _ in range(draw(st.integers(0, 3))):
                self._mutate(draw, msg)
            return msg

        return st.one_of(mutated(), mutated(), self.message(desc))

    # --- valid requests (templates) -----------------------------------------------------

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{os.getpid()}-{next(self.counter)}"

    def ref(self, draw: Any, alias: str | None = None) -> licence_store_pb2.LicenceRef:
        """A licence reference; the draws never depend on the pool (Hypothesis replays them)."""
        mode, i = draw(st.integers(0, 9)), draw(st.integers(0, 1 << 30))
        own = self.pool.by_issuer.get(alias or "", [])[-50:]
        ids = own if mode < 6 and own else self.pool.licence_ids[-100:]
        if mode < 9 and ids:
            return licence_store_pb2.LicenceRef(licence_id=ids[i % len(ids)])
        numbers = self.pool.type_numbers
        tn = numbers[i % len(numbers)] if numbers else ("", "")
        return licence_store_pb2.LicenceRef(
            type_and_number=licence_store_pb2.TypeAndNumber(type_code=tn[0], licence_number=tn[1])
        )

    def holder(self, draw: Any, kind: str | None = None) -> str:
        if kind == "person" or (kind is None and draw(st.booleans())):
            return draw(st.one_of(one_of_pool(self.pool.persons), citizen_ids))
        return draw(st.one_of(one_of_pool(self.pool.organisations), credit_codes))

    def t_issue(self, draw: Any, alias: str) -> Message:
        lt = TYPE_OF_ISSUER.get(alias) or draw(st.sampled_from(demo.LICENCE_TYPES))
        person = lt.holder_kind.value == "person"
        return licence_store_pb2.IssueLicenceRequest(
            idempotency_key=self.unique("fuzz-issue"),
            type_code=lt.type_code,
            licence_number=self.unique("FZ"),
            holder=common_pb2.Holder(
                number=self.holder(draw, "person" if person else "organisation"),
                name="张三" if person else "福州示例科技有限公司",
            ),
            fields=valid_fields(lt.type_code, draw(citizen_ids)),
            valid_from=draw(st.sampled_from(["", "2026-01-01", "2020-05-22"])),
            valid_until=draw(st.sampled_from(["", "2030-12-31"])),
        )

    def t_import(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.ImportRecord(
            line=draw(st.integers(0, 10_000)), licence=self.t_issue(draw, alias)
        )

    def t_import_message(self, draw: Any, alias: str) -> Message:
        count = draw(st.integers(0, 4))
        return licence_store_pb2.ImportLicencesRequest(
            records=[self.t_import(draw, alias) for _ in range(count)]
        )

    def _key(self, draw: Any) -> str:
        return draw(st.sampled_from(["", self.unique("fuzz-key")]))

    def t_change(self, draw: Any, alias: str) -> Message:
        lt = TYPE_OF_ISSUER.get(alias, demo.BUSINESS_LICENCE)
        name = draw(st.sampled_from([f.name for f in lt.fields]))
        return licence_store_pb2.ChangeLicenceRequest(
            idempotency_key=self._key(draw),
            licence=self.ref(draw, alias),
            fields={name: valid_fields(lt.type_code, draw(citizen_ids)).get(name, "")},
            holder_name=draw(st.sampled_from(["", "李四", "福州新名称有限公司"])),
            reason=draw(st.sampled_from(["", "变更登记"])),
        )

    def t_renew(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.RenewLicenceRequest(
            idempotency_key=self._key(draw),
            licence=self.ref(draw, alias),
            valid_until=draw(st.sampled_from(["", "2040-12-31", "2099-01-01"])),
        )

    def t_status(self, draw: Any, alias: str) -> Message:
        code = draw(st.sampled_from(ALL_REASONS))
        return licence_store_pb2.StatusChangeRequest(
            idempotency_key=self._key(draw),
            licence=self.ref(draw, alias),
            reason_code=code,
            reason_text="依法处理" if code == "OTHER" or draw(st.booleans()) else "",
        )

    def t_get(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.GetLicenceRequest(
            licence=self.ref(draw),
            version=draw(st.integers(0, 3)),
            purpose="核验",
            case_number="CASE-1",
        )

    def t_list_by_holder(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.ListLicencesByHolderRequest(
            holder_number=self.holder(draw),
            type_codes=draw(st.lists(st.sampled_from(TYPE_CODES), max_size=2)),
            page_size=draw(st.integers(0, 3)),
            purpose="核验",
        )

    def t_watch_events(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.WatchEventsRequest(
            after_cursor=draw(st.integers(0, 200)),
            type_codes=draw(st.lists(st.sampled_from(TYPE_CODES), max_size=2)),
        )

    def t_register_department(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.RegisterDepartmentRequest(
            credit_code=draw(credit_codes),
            name="福州市测试局",
            region="350100",
            roles=draw(st.lists(st.integers(1, 7), min_size=1, max_size=3)),
        )

    def t_get_department(self, draw: Any, alias: str) -> Message:
        code = draw(st.sampled_from(sorted(DEMO_CODES)))
        return licence_store_pb2.GetDepartmentRequest(credit_code=code)

    def t_mark_compromised(self, draw: Any, alias: str) -> Message:
        msg = licence_store_pb2.MarkKeyCompromisedRequest(
            key_id=draw(one_of_pool(self.pool.key_ids))
        )
        if draw(st.booleans()):
            msg.compromised_at.FromDatetime(datetime.now(UTC) - timedelta(seconds=1))
        return msg

    def t_revoke_certificate(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.RevokeCertificateRequest(
            serial_number=draw(st.text("0123456789ABCDEF", min_size=30, max_size=40)),
            department_code=draw(st.sampled_from(sorted(DEMO_CODES))),
            reason="证书遗失",
        )

    def t_register_type(self, draw: Any, alias: str) -> Message:
        lt = licence_store_pb2.LicenceType(
            type_code=f"{demo.NATIONAL_DEFINER}{draw(st.integers(100, 999)):03d}",
            name="测试证照",
            holder_kind=draw(st.sampled_from([1, 2])),
            default_validity_days=draw(st.sampled_from([0, 1, 365, 36500])),
            issuer_codes=[demo.ALIASES["market"]],
        )
        lt.fields.add(name="note", label="备注", type=1, required=False, max_length=100)
        return licence_store_pb2.RegisterLicenceTypeRequest(licence_type=lt)

    def t_get_type(self, draw: Any, alias: str) -> Message:
        return licence_store_pb2.GetLicenceTypeRequest(type_code=draw(st.sampled_from(TYPE_CODES)))

    def t_verify(self, draw: Any, alias: str) -> Message:
        msg = verifier_pb2.VerifyLicenceRequest(
            licence=self.ref(draw),
            presented_holder_number=draw(st.sampled_from(["", self.holder(draw)])),
            presented_holder_name=draw(st.sampled_from(["", "张三"])),
            purpose="办理业务",
            client_ref=draw(st.sampled_from(["", "row-1"])),
        )
        if draw(st.booleans()):
            msg.as_of.FromDatetime(datetime.now(UTC) - timedelta(days=draw(st.integers(0, 3000))))
        return msg

    def t_verify_batch(self, draw: Any, alias: str) -> Message:
        count = draw(st.integers(0, 4))
        return verifier_pb2.VerifyBatchRequest(
            items=[self.t_verify(draw, alias) for _ in range(count)]
        )

    def t_verify_by_holder(self, draw: Any, alias: str) -> Message:
        return verifier_pb2.VerifyByHolderRequest(
            holder_number=self.holder(draw),
            type_codes=draw(st.lists(st.sampled_from(TYPE_CODES), max_size=2)),
            valid_only=draw(st.booleans()),
            purpose="办理业务",
        )

    def t_verify_document(self, draw: Any, alias: str) -> Message:
        msg = verifier_pb2.VerifyDocumentRequest(purpose="亮证核验")
        document = draw(one_of_pool(self.pool.documents, None))
        qr = draw(one_of_pool(self.pool.qr_payloads))
        if draw(st.booleans()) and document is not None:
            msg.signed_document.CopyFrom(document)
        else:
            msg.qr_payload = qr
        return msg

    def t_export(self, draw: Any, alias: str) -> Message:
        return verifier_pb2.ExportDocumentRequest(
            licence=self.ref(draw, alias), version=draw(st.integers(0, 3))
        )

    def t_qr(self, draw: Any, alias: str) -> Message:
        return verifier_pb2.IssueQrPayloadRequest(
            licence=self.ref(draw, alias), ttl_seconds=draw(st.sampled_from([0, 30, 3600]))
        )

    def t_receipt(self, draw: Any, alias: str) -> Message:
        return verifier_pb2.GetReceiptRequest(receipt_id=draw(one_of_pool(self.pool.receipt_ids)))

    def t_check_materials(self, draw: Any, alias: str) -> Message:
        return verifier_pb2.CheckMaterialsRequest(
            item_code=draw(st.sampled_from(SERVICE_ITEM_CODES)),
            applicant_number=self.holder(draw),
            purpose="免提交",
        )

    def t_inclusion(self, draw: Any, alias: str) -> Message:
        return verifier_pb2.GetInclusionProofRequest(
            ref=draw(one_of_pool(self.pool.log_refs)), tree_size=draw(st.integers(0, 5))
        )

    def t_consistency(self, draw: Any, alias: str) -> Message:
        first = draw(st.integers(1, 30))
        return verifier_pb2.GetConsistencyProofRequest(
            first_size=first, second_size=first + draw(st.integers(0, 30))
        )

    def t_register_item(self, draw: Any, alias: str) -> Message:
        item = assistance_pb2.AssistanceItem(
            code=f"FZ-NEW-{draw(st.integers(1, 99))}",
            name="测试协助事项",
            provider_code=demo.ALIASES["market"],
            licence_type_code=demo.BUSINESS_LICENCE.type_code,
            fields=["licence_number", "address"],
            requester_codes=[demo.ALIASES["hall"]],
            procedure=draw(st.sampled_from([1, 2])),
            method="系统接口",
            responsible_office="登记注册处",
            time_limit_working_days=draw(st.integers(1, 20)),
            refusal_grounds=["NOT_HELD"],
        )
        return assistance_pb2.RegisterItemRequest(item=item)

    def t_submit(self, draw: Any, alias: str) -> Message:
        code = demo.ALIASES[alias]
        items = [i for i in assistance_demo.ITEMS if code in i.requester_codes]
        item = draw(st.sampled_from(items or list(assistance_demo.ITEMS)))
        person = item.licence_type_code != demo.BUSINESS_LICENCE.type_code
        return assistance_pb2.SubmitRequestRequest(
            idempotency_key=self.unique("fuzz-submit"),
            item_code=item.code,
            holder_number=self.holder(draw, "person" if person else "organisation"),
            purpose=item.allowed_purposes[0] if item.allowed_purposes else "住房保障资格审核",
            legal_basis="《政务服务条例》第十条",
            case_number=draw(st.sampled_from(["", "CASE-2026-1"])),
            requested_fields=draw(st.sampled_from([[], list(item.fields[:1])])),
        )

    def t_request_id(self, draw: Any, alias: str) -> Message:
        return assistance_pb2.GetRequestRequest(request_id=draw(one_of_pool(self.pool.request_ids)))

    def t_answer(self, draw: Any, alias: str) -> Message:
        return assistance_pb2.AnswerRequest(
            request_id=draw(one_of_pool(self.pool.request_ids)),
            data=draw(
                st.sampled_from(
                    [{"has_record": "无", "scope": "全国"}, {"degree": "学士", "major": "法学"}]
                )
            ),
        )

    def t_refuse(self, draw: Any, alias: str) -> Message:
        return assistance_pb2.RefuseRequest(
            request_id=draw(one_of_pool(self.pool.request_ids)),
            ground=draw(st.sampled_from(GROUNDS)),
            explanation="不属于本部门职责",
        )

    def t_urge(self, draw: Any, alias: str) -> Message:
        return assistance_pb2.UrgeRequest(
            request_id=draw(one_of_pool(self.pool.request_ids)), note="请尽快办理"
        )

    def t_access_records(self, draw: Any, alias: str) -> Message:
        return assistance_pb2.ListAccessRecordsRequest(
            holder_number=self.holder(draw), page_size=draw(st.integers(0, 5))
        )

    def t_commitment(self, draw: Any, alias: str) -> Message:
        return assistance_pb2.RecordCommitmentRequest(
            applicant_number=self.holder(draw),
            applicant_name="张三",
            licence_type_code=draw(st.sampled_from(TYPE_CODES)),
            case_number="CASE-2026-2",
            check_by=draw(st.sampled_from(["2027-01-01", "2030-12-31"])),
        )


def valid_fields(type_code: str, spouse_id: str = "11010519491231002X") -> dict[str, str]:
    """Valid data for each demo licence type."""
    return {
        demo.BUSINESS_LICENCE.type_code: {
            "legal_representative": "王芳",
            "company_type": "有限责任公司",
            "registered_capital": "500",
            "established_on": "2020-05-22",
            "address": "福州市鼓楼区五四路1号",
            "business_scope": "软件开发；信息技术咨询服务",
        },
        demo.MARRIAGE_CERTIFICATE.type_code: {
            "spouse_name": "李四",
            "spouse_id_number": spouse_id,
            "registered_on": "2020-05-20",
            "registration_office": "福州市鼓楼区民政局",
            "certificate_serial": "J350102-2020-001234",
        },
        demo.RESIDENCE_PERMIT.type_code: {
            "sex": "男",
            "domicile": "北京市西城区",
            "residence_address": "福州市台江区八一七中路2号",
            "issuing_office": "福州市公安局台江分局",
        },
        demo.QUALIFICATION_CERTIFICATE.type_code: {
            "occupation": "电工",
            "level": "四级",
            "awarded_on": "2023-07-01",
            "awarding_body": "福州市职业技能鉴定中心",
            "theory_score": "85",
        },
    }.get(type_code, {})


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


def _short(msg: Message) -> str:
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
        shown = "\n---\n".join(_short(r) for r in requests)
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


def _seed(stack: Stack, pool: Pool) -> None:
    """A few licences of every type, receipts, requests, documents: things to aim at."""
    rng = random.Random(20261121)
    for alias, lt in TYPE_OF_ISSUER.items():
        person = lt.holder_kind.value == "person"
        for i in range(4):
            holder = (
                _citizen_id("350102", date(1980 + i, 1 + i, 10 + i), rng.randrange(1000))
                if person
                else _credit_code("91350100", "".join(rng.choice("0123456789") for _ in range(8)))
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


@pytest.fixture(scope="module")
def fuzz(
    pki: DevPki, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Fuzz]:
    """One server for the module, with rate limits out of the way: on SQLite, or on the
    session's PostgreSQL with YIHAO_FUZZ_DATABASE=postgresql (column lengths are enforced
    there only)."""
    var: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{var / 'yihao.db'}"
    if os.environ.get("YIHAO_FUZZ_DATABASE") == "postgresql":
        template = request.getfixturevalue("pg_template")
        url = request.getfixturevalue("postgres").create_database(
            f"fuzz{os.getpid()}", template=template
        )
    settings_ = settings_for(url, var, pki, rate_limits_json=NO_RATE_LIMITS)
    stack = start_stack(settings_, pki)
    errors = ServerErrors()
    loggers = [logging.getLogger(name) for name in ("yihao", "services", "grpc")]
    for logger in loggers:
        logger.addHandler(errors)
    pool = Pool()
    _seed(stack, pool)
    fuzz = Fuzz(stack, pool, Fuzzer(pool), errors)
    try:
        yield fuzz
    finally:
        if fuzz.bugs_seen:  # say so: the fuzz tests passed over these known bugs
            warnings.warn(f"known server bugs hit while fuzzing: {fuzz.bugs_seen}", stacklevel=1)
        for logger in loggers:
            logger.removeHandler(errors)
        _stop(stack)


def _stop(stack: Stack) -> None:
    """``Stack.stop`` without waiting forever: after undecodable client-stream messages the
    gRPC server never finishes shutting down (see test_bug_sigterm_hangs_after_garbage_stream)."""
    for channel in stack._channels.values():
        channel.close()
    stack.server.stop(0).wait(5)
    stack.app.close()


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
        note("\n---\n".join(_short(r) for r in requests))
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
        report = verify(conn, app.verifier.log_keys, app.licence_store.codec)
    assert report.entries > 0
    assert report.ok, [str(p) for p in report.problems[:10]]


def test_server_still_issues_and_verifies_after_fuzzing(fuzz: Fuzz):
    holder = _credit_code("91350100", "70070070")
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


# --- bugs found: exact reproductions -----------------------------------------------------
#
# Bugs this fuzzer found and that have been fixed since are kept as regression tests; a bug
# still open is a strict xfail (it fails the suite once fixed, to be turned into a regression).


def _fresh_business(fuzz: Fuzz, **overrides: str) -> licence_store_pb2.Licence:
    request = licence_store_pb2.IssueLicenceRequest(
        idempotency_key=fuzz.fuzzer.unique("bug-issue"),
        type_code=demo.BUSINESS_LICENCE.type_code,
        licence_number=fuzz.fuzzer.unique("BUG"),
        holder=common_pb2.Holder(number="91350100M000100Y43", name="福州示例科技有限公司"),
        fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
        **overrides,
    )
    return fuzz.stack.store("market").IssueLicence(request, timeout=TIMEOUT)


def _residence(fuzz: Fuzz, **overrides: str) -> licence_store_pb2.IssueLicenceRequest:
    return licence_store_pb2.IssueLicenceRequest(
        idempotency_key=fuzz.fuzzer.unique("bug-residence"),
        type_code=demo.RESIDENCE_PERMIT.type_code,  # 365 days' validity by default
        licence_number=fuzz.fuzzer.unique("BUG-R"),
        holder=common_pb2.Holder(number="11010519491231002X", name="张三"),
        fields=valid_fields(demo.RESIDENCE_PERMIT.type_code),
        **overrides,
    )


def _not_internal(outcome: Outcome, *expected: grpc.StatusCode) -> None:
    assert outcome.code in expected, f"{outcome.code.name}: {outcome.message}"


@pytest.mark.parametrize("method", ["VerifyLicence", "VerifyBatch"])
def test_regression_verify_as_of_in_the_last_hours_of_9999(fuzz: Fuzz, method: str):
    """Found by the fuzzer (fixed since): as_of from 9999-12-31T16:00:00Z to 23:59:59Z passes the
    1970..9999 check but china_date() overflows converting it to UTC+8 (OverflowError ->
    INTERNAL).
    """
    from google.protobuf.timestamp_pb2 import Timestamp

    licence = _fresh_business(fuzz)
    request = verifier_pb2.VerifyLicenceRequest(
        licence=licence_store_pb2.LicenceRef(licence_id=licence.licence_id),
        as_of=Timestamp(seconds=253402300799),  # 9999-12-31T23:59:59Z, the documented maximum
    )
    if method == "VerifyBatch":
        request = verifier_pb2.VerifyBatchRequest(items=[request])
    outcome = call(fuzz.stack.channel("hall"), f"/yihao.v1.Verifier/{method}", [request])
    _not_internal(outcome, Code.OK, Code.INVALID_ARGUMENT)


@pytest.mark.parametrize("method", ["IssueLicence", "ImportLicences"])
def test_regression_issue_with_default_validity_past_9999(fuzz: Fuzz, method: str):
    """Found by the fuzzer (fixed since): valid_from + the type's default validity beyond
    9999-12-31 overflows in Validity.starting (OverflowError -> INTERNAL); in ImportLicences the
    one record ends the whole stream instead of being REJECTED.
    """
    bad = _residence(fuzz, valid_from="9999-06-01")
    if method == "IssueLicence":
        outcome = call(fuzz.stack.channel("police"), "/yihao.v1.LicenceStore/IssueLicence", [bad])
        _not_internal(outcome, Code.INVALID_ARGUMENT)
        return
    message = licence_store_pb2.ImportLicencesRequest(
        records=[
            licence_store_pb2.ImportRecord(line=1, licence=_residence(fuzz)),
            licence_store_pb2.ImportRecord(line=2, licence=bad),
        ]
    )
    outcome = call(fuzz.stack.channel("police"), "/yihao.v1.LicenceStore/ImportLicences", [message])
    _not_internal(outcome, Code.OK)
    assert [r.outcome for m in outcome.responses for r in m.results] == [
        licence_store_pb2.IMPORT_OUTCOME_ACCEPTED,
        licence_store_pb2.IMPORT_OUTCOME_REJECTED,
    ]


def test_regression_renew_past_9999(fuzz: Fuzz):
    """Found by the fuzzer (fixed since): renewing (default period) a licence valid until
    9999-12-31 computes 9999-12-31 + 1 day in Licence.renew (OverflowError -> INTERNAL).
    """
    licence = fuzz.stack.store("police").IssueLicence(
        _residence(fuzz, valid_until="9999-12-31"), timeout=TIMEOUT
    )
    request = licence_store_pb2.RenewLicenceRequest(
        licence=licence_store_pb2.LicenceRef(licence_id=licence.licence_id)
    )
    outcome = call(fuzz.stack.channel("police"), "/yihao.v1.LicenceStore/RenewLicence", [request])
    _not_internal(outcome, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION)


def test_regression_verify_document_with_naive_version_at(fuzz: Fuzz):
    """Found by the fuzzer (fixed since): a presented document whose version_at has no UTC offset,
    with a real key id and its issuer_code, is compared with the key's aware validity period in
    check_document (TypeError -> INTERNAL) instead of answering CANNOT_CHECK.
    """
    licence = _fresh_business(fuzz)
    document = fuzz.stack.verifier("portal").ExportDocument(
        verifier_pb2.ExportDocumentRequest(
            licence=licence_store_pb2.LicenceRef(licence_id=licence.licence_id)
        ),
        timeout=TIMEOUT,
    )
    content = json.loads(document.content_json)
    content["version_at"] = content["version_at"][:19]  # e.g. 2026-11-21T23:09:51
    document.content_json = json.dumps(content, ensure_ascii=False)
    request = verifier_pb2.VerifyDocumentRequest(signed_document=document)
    outcome = call(fuzz.stack.channel("hall"), "/yihao.v1.Verifier/VerifyDocument", [request])
    _not_internal(outcome, Code.OK)
    assert outcome.responses[0].verdict == verifier_pb2.VERDICT_CANNOT_CHECK


def test_regression_qr_payload_nested_json(fuzz: Fuzz):
    """Found by the fuzzer (fixed since): decode_qr parses the QR body before checking its
    signature and catches only ValueError, so a body of deeply nested JSON (fits the
    2048-character limit) raises RecursionError -> INTERNAL instead of INVALID_ARGUMENT/FORMAT.
    """
    request = verifier_pb2.VerifyDocumentRequest(qr_payload=_qr_with_body("[" * 1500))
    assert len(request.qr_payload) <= 2048
    outcome = call(fuzz.stack.channel("hall"), "/yihao.v1.Verifier/VerifyDocument", [request])
    _not_internal(outcome, Code.INVALID_ARGUMENT, Code.OK)


@pytest.mark.parametrize("position", ["²", "9" * 30])
def test_regression_access_records_page_token_digits(fuzz: Fuzz, position: str):
    """Found by the fuzzer (fixed since): AssistanceService.access_records turns a page token's
    text into an int when str.isdigit() holds: '²' raises ValueError, 30 digits overflow SQLite
    INTEGER (-> INTERNAL instead of INVALID_ARGUMENT/PAGE_TOKEN).
    """
    request = assistance_pb2.ListAccessRecordsRequest(
        holder_number=fuzz.pool.persons[0], page_token=encode_token(position)
    )
    outcome = call(
        fuzz.stack.channel("portal"), "/yihao.v1.Assistance/ListAccessRecords", [request]
    )
    _not_internal(outcome, Code.INVALID_ARGUMENT, Code.OK)


@pytest.mark.parametrize("change", [("purpose", "人才引进审核"), ("legal_basis", "《另一依据》")])
def test_regression_submit_key_reused_with_another_purpose(fuzz: Fuzz, change: tuple[str, str]):
    """Found by the fuzzer (fixed since): SubmitRequest with a used idempotency key and another
    purpose or legal basis answers OK with the earlier request (only item, holder, case number
    and fields are compared), silently dropping what the caller stated; IssueLicence answers
    ABORTED.
    """
    first = _submit_first(fuzz, fuzz.fuzzer.unique("bug-submit"))
    fuzz.stack.assistance("hall").SubmitRequest(first, timeout=TIMEOUT)
    other = assistance_pb2.SubmitRequestRequest()
    other.CopyFrom(first)
    setattr(other, *change)
    outcome = call(fuzz.stack.channel("hall"), "/yihao.v1.Assistance/SubmitRequest", [other])
    _not_internal(outcome, Code.ABORTED)


#: Run in a fresh interpreter: whether the server hangs depends on the client's timing, and a
#: test process that already hosts a gRPC server (the module's) hides it.
SIGTERM_AFTER_GARBAGE = """
import signal, subprocess, sys
import grpc
from testsupport.serverproc import server_process

with server_process(None, YIHAO_GRACE_SECONDS="1") as server:
    channel = server.channel("market")
    try:
        for _ in range(20):
            call = channel.stream_stream("/yihao.v1.LicenceStore/ImportLicences")
            try:
                list(call(iter([b"\\x0f\\x00"]), timeout=10))  # not an ImportLicencesRequest
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.INTERNAL, exc
        server.proc.send_signal(signal.SIGTERM)
        try:
            print("exit", server.proc.wait(timeout=20))
        except subprocess.TimeoutExpired:
            print("still running 20 s after SIGTERM (grace 1 s)")
    finally:
        channel.close()
        if server.proc.poll() is None:
            server.proc.kill()  # the server this script started
            server.proc.wait()
"""


def test_sigterm_exits_even_after_garbage_streams():
    """grpcio 1.85.1 (reproducible with a plain grpc.server, no Yihao code): after
    client-streaming calls whose messages fail to decode, server.stop(grace).wait() never
    returns. The server waits the grace period and a margin, then exits anyway."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_AFTER_GARBAGE],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "exit 0", done.stdout


# --- PostgreSQL only: NUL characters (text columns cannot hold them) ------------------------


@pytest.fixture(scope="module")
def pg_stack(
    pki: DevPki, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    template = request.getfixturevalue("pg_template")
    url = request.getfixturevalue("postgres").create_database(
        f"fuzzbugs{os.getpid()}", template=template
    )
    var = tmp_path_factory.mktemp("fuzz-pg")
    stack = start_stack(settings_for(url, var, pki, rate_limits_json=NO_RATE_LIMITS), pki)
    company = "91350100M000100Y43"
    stack.store("market").IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key="pg-bugs-issue-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="PG-1",
            holder=common_pb2.Holder(number=company, name="福州示例科技有限公司"),
            fields=valid_fields(demo.BUSINESS_LICENCE.type_code),
        ),
        timeout=TIMEOUT,
    )
    yield stack
    _stop(stack)


def _by_number(number: str) -> licence_store_pb2.LicenceRef:
    return licence_store_pb2.LicenceRef(
        type_and_number=licence_store_pb2.TypeAndNumber(
            type_code=demo.BUSINESS_LICENCE.type_code, licence_number=number
        )
    )


NUL_LOOKUPS = {
    "GetLicence by type and number": (
        "hall",
        "/yihao.v1.LicenceStore/GetLicence",
        licence_store_pb2.GetLicenceRequest(licence=_by_number("PG-1\x00")),
    ),
    "VerifyLicence by type and number": (
        "hall",
        "/yihao.v1.Verifier/VerifyLicence",
        verifier_pb2.VerifyLicenceRequest(licence=_by_number("PG-1\x00")),
    ),
    "VerifyBatch by type and number": (
        "hall",
        "/yihao.v1.Verifier/VerifyBatch",
        verifier_pb2.VerifyBatchRequest(
            items=[verifier_pb2.VerifyLicenceRequest(licence=_by_number("\x00"))]
        ),
    ),
    "VerifyByHolder type_codes": (
        "hall",
        "/yihao.v1.Verifier/VerifyByHolder",
        verifier_pb2.VerifyByHolderRequest(holder_number="91350100M000100Y43", type_codes=["\x00"]),
    ),
    "MarkKeyCompromised key_id": (
        "data",
        "/yihao.v1.LicenceStore/MarkKeyCompromised",
        licence_store_pb2.MarkKeyCompromisedRequest(key_id="k\x00"),
    ),
    "GetInclusionProof ref": (
        "hall",
        "/yihao.v1.Verifier/GetInclusionProof",
        verifier_pb2.GetInclusionProofRequest(ref="r\x00"),
    ),
    "ListDepartments page_token": (
        "hall",
        "/yihao.v1.LicenceStore/ListDepartments",
        licence_store_pb2.ListDepartmentsRequest(page_token=encode_token("\x00")),
    ),
    "ListLicencesByHolder page_token": (
        "hall",
        "/yihao.v1.LicenceStore/ListLicencesByHolder",
        licence_store_pb2.ListLicencesByHolderRequest(
            holder_number="91350100M000100Y43", page_token=encode_token("\x00")
        ),
    ),
    "ListMyRequests page_token": (
        "hall",
        "/yihao.v1.Assistance/ListMyRequests",
        assistance_pb2.ListRequestsRequest(page_token=encode_token("\x00")),
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("case", sorted(NUL_LOOKUPS))
def test_regression_postgresql_nul_in_a_lookup(pg_stack: Stack, case: str):
    """Found by the fuzzer (fixed since): a NUL in a value used as a query parameter failed
    the statement on PostgreSQL (-> INTERNAL). Requests are now refused at the boundary; a
    batch answers that item on its own."""
    alias, path, request = NUL_LOOKUPS[case]
    outcome = call(pg_stack.channel(alias), path, [request])
    if path.endswith("/VerifyBatch") and outcome.code == Code.OK:
        answers = [a for r in outcome.responses for a in r.results]
        assert [a.verdict for a in answers] == [verifier_pb2.VERDICT_NOT_FOUND]
        return
    _not_internal(outcome, Code.INVALID_ARGUMENT, Code.NOT_FOUND)


@pytest.mark.postgres
def test_regression_postgresql_nul_in_purpose_does_not_fail_other_callers(pg_stack: Stack):
    import threading

    ref = _by_number("PG-1")
    outcomes: dict[str, list[grpc.StatusCode]] = {}

    def read(alias: str, purpose: str) -> None:
        request = licence_store_pb2.GetLicenceRequest(licence=ref, purpose=purpose)
        path = "/yihao.v1.LicenceStore/GetLicence"
        codes = [call(pg_stack.channel(alias), path, [request]).code for _ in range(30)]
        outcomes[alias] = codes

    threads = [threading.Thread(target=read, args=("data", "核验\x00"))] + [
        threading.Thread(target=read, args=(alias, "窗口核验"))
        for alias in ("hall", "market", "portal", "supervision")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = set(outcomes.pop("data"))
    assert {alias: set(codes) for alias, codes in outcomes.items()} == {
        alias: {Code.OK} for alias in outcomes
    }
    assert refused == {Code.INVALID_ARGUMENT}
