"""The demo catalogue's parts that span services, loaded by ``make run``: the verifier's
service items (办事事项) with their required materials, and the assistance items of the
福州 departments. The departments and licence types are ``services.licence_store.demo``'s.

They live here, above the services, so that neither the verifier nor assistance imports the
licence store's demo data.
"""

from __future__ import annotations

from typing import Any

from services.assistance.domain.items import AssistanceItem, Procedure
from services.licence_store.demo import (
    ALIASES,
    BUSINESS_LICENCE,
    MARRIAGE_CERTIFICATE,
    QUALIFICATION_CERTIFICATE,
    RESIDENCE_PERMIT,
)
from services.verifier.materials import Material, ServiceItem

SERVICE_ITEMS: tuple[ServiceItem, ...] = (
    ServiceItem(
        "FZ-ZJ-0001",
        "公共租赁住房申请",
        (
            Material("居民身份证"),
            Material("结婚证", MARRIAGE_CERTIFICATE.type_code),
            Material("居住证", RESIDENCE_PERMIT.type_code),
            Material("家庭收入申报表"),
        ),
    ),
    ServiceItem(
        "FZ-RS-0002",
        "职业技能提升补贴申领",
        (
            Material("职业资格证书", QUALIFICATION_CERTIFICATE.type_code),
            Material("居住证", RESIDENCE_PERMIT.type_code),
            Material("社会保障卡（银行账户）"),
        ),
    ),
    ServiceItem(
        "FZ-SC-0003",
        "食品经营许可申请",
        (
            Material("营业执照", BUSINESS_LICENCE.type_code),
            Material("法定代表人身份证明"),
            Material("经营场所使用证明"),
            Material("食品安全管理制度文本"),
        ),
    ),
)


def _automatic(**item: Any) -> AssistanceItem:
    """An item the provider's system answers at once (within one working day)."""
    return AssistanceItem(
        procedure=Procedure.AUTOMATIC,
        method="系统接口 (system interface)",
        time_limit_working_days=1,
        **item,
    )


def _by_staff(**item: Any) -> AssistanceItem:
    """An item the provider's staff check and answer by hand, within five working days."""
    return AssistanceItem(
        procedure=Procedure.MANUAL,
        method="线上申请，人工核查 (online request, checked by staff)",
        time_limit_working_days=5,
        **item,
    )


ASSISTANCE_ITEMS: tuple[AssistanceItem, ...] = (
    # Consent required (授权用证): a request needs the holder's grant (docs/holders.md).
    _automatic(
        code="XZXZ-RS-001",
        name="职业资格证书信息核查",
        provider_code=ALIASES["hrss"],
        licence_type_code=QUALIFICATION_CERTIFICATE.type_code,
        fields=("licence_number", "holder_name", "occupation", "level", "awarded_on", "status"),
        requester_codes=frozenset({ALIASES["housing"], ALIASES["hall"]}),
        legal_basis_required=False,
        responsible_office="福州市人力资源和社会保障局职业能力建设处",
        refusal_grounds=("PERSONAL_PRIVACY", "NOT_HELD"),
        consent_required=True,
    ),
    _automatic(
        code="XZXZ-MZ-001",
        name="婚姻登记信息核查",
        provider_code=ALIASES["civil"],
        licence_type_code=MARRIAGE_CERTIFICATE.type_code,
        fields=(
            "licence_number",
            "holder_name",
            "spouse_name",
            "spouse_id_number",
            "registered_on",
            "registration_office",
            "status",
        ),
        unmasked_fields=("spouse_name",),
        requester_codes=frozenset({ALIASES["police"], ALIASES["housing"], ALIASES["hall"]}),
        legal_basis_required=True,
        responsible_office="福州市民政局婚姻登记处",
        refusal_grounds=("PERSONAL_PRIVACY", "NOT_HELD"),
    ),
    _automatic(
        code="XZXZ-SC-001",
        name="营业执照登记信息核查",
        provider_code=ALIASES["market"],
        licence_type_code=BUSINESS_LICENCE.type_code,
        fields=(
            "licence_number",
            "holder_name",
            "legal_representative",
            "registered_capital",
            "address",
            "valid_until",
            "status",
        ),
        requester_codes=frozenset({ALIASES["housing"], ALIASES["hall"], ALIASES["hrss"]}),
        legal_basis_required=False,
        responsible_office="福州市市场监督管理局登记注册处",
        refusal_grounds=("COMMERCIAL_SECRET", "NOT_HELD"),
    ),
    _by_staff(
        code="XZXZ-JY-001",
        name="学历学位信息核查",
        provider_code=ALIASES["education"],
        attestation="学历学位信息 (degree record)",
        fields=("degree", "major", "institution", "graduated_on"),
        requester_codes=frozenset({ALIASES["hrss"]}),
        legal_basis_required=True,
        allowed_purposes=("职业资格审查", "人才引进审核"),
        responsible_office="福州市教育局学籍管理科",
        refusal_grounds=("PERSONAL_PRIVACY", "NOT_HELD", "OUTSIDE_COMPETENCE"),
    ),
    _by_staff(
        code="XZXZ-GA-001",
        name="有无犯罪记录查询",
        provider_code=ALIASES["police"],
        attestation="有无犯罪记录证明 (criminal record attestation)",
        fields=("has_record", "scope"),
        requester_codes=frozenset({ALIASES["hrss"], ALIASES["hall"]}),
        legal_basis_required=True,
        responsible_office="福州市公安局治安管理支队",
        refusal_grounds=("STATE_SECRET", "PERSONAL_PRIVACY", "NOT_HELD"),
    ),
)
