"""Hypothesis strategies for any request message, driven by the message's descriptor."""

from __future__ import annotations

import itertools
import json
import string
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from services.common.identifiers import ROOT
from services.common.licence_ids import parse_licence_identifier
from services.common.paging import encode_token
from testsupport.fuzz.templates import ValidRequests
from testsupport.fuzz.values import (
    ALL_REASONS,
    DEMO_CODES,
    DEPT_FIELDS,
    EDITS,
    FIELD_NAMES,
    GROUNDS,
    HOLDER_FIELDS,
    INT32,
    INT32_EDGES,
    INT64,
    ITEM_CODES,
    NAME_FIELDS,
    REASON_FIELDS,
    SECONDS_EDGES,
    SERVICE_ITEM_CODES,
    SQL,
    TIMESTAMP,
    TYPE_CODES,
    TYPE_FIELDS,
    Pool,
    citizen_ids,
    credit_codes,
    dates,
    edited_document,
    generic_text,
    json_containers,
    legacy_ids,
    mutations,
    one_of_pool,
    qr_bodies,
    qr_with_body,
)


class Fuzzer(ValidRequests):
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
                st.builds(qr_with_body, qr_bodies),
                st.just("YH1.."),
            ),
            "content_json": st.one_of(
                one_of_pool(p.documents).map(lambda d: d.content_json if d else "{}"),
                st.builds(edited_document, one_of_pool(p.documents), st.sampled_from(EDITS)),
                st.builds(lambda n: "[" * n + "]" * n, st.integers(100, 200_000)),
                st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(100, 50_000)),
                st.sampled_from(['{"version": 1e999999}', "NaN", '{"a": NaN}', "\ufeff{}", "{"]),
                st.builds(
                    json.dumps,
                    st.recursive(
                        st.none() | st.integers() | st.text(), json_containers, max_leaves=20
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
