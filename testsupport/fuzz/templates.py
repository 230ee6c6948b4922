"""Valid requests per RPC (``t_*``), which the fuzzer mutates so handlers get past validation."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message
from hypothesis import strategies as st

from services import demo as catalogue_demo
from services.licence_store import demo
from testsupport.fuzz.values import (
    ALL_REASONS,
    DEMO_CODES,
    GROUNDS,
    SERVICE_ITEM_CODES,
    TYPE_CODES,
    TYPE_OF_ISSUER,
    Pool,
    citizen_ids,
    credit_codes,
    one_of_pool,
)
from yihao.v1 import assistance_pb2, common_pb2, licence_store_pb2, verifier_pb2


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


class ValidRequests:
    """Templates of valid requests, over the pool of values the server knows."""

    pool: Pool

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
            case_number="CASE-1",
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
            case_number="CASE-1",
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
            case_number="CASE-1",
        )

    def t_verify_document(self, draw: Any, alias: str) -> Message:
        msg = verifier_pb2.VerifyDocumentRequest(purpose="亮证核验", case_number="CASE-1")
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
            case_number="CASE-1",
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
        items = [i for i in catalogue_demo.ASSISTANCE_ITEMS if code in i.requester_codes]
        item = draw(st.sampled_from(items or list(catalogue_demo.ASSISTANCE_ITEMS)))
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
