"""The demo catalogue loaded by ``make run``: departments of 福州市 and four national licence types.

Credit codes are valid unified social credit codes (authority 1 = government body, region
350100) made up for the demo. Each department has a short alias for ``yihao --as``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.identifiers import HolderKind
from services.licence_store.domain.catalogue import FieldSpec, FieldType, LicenceType, Role
from services.licence_store.domain.grants import ReadGrant
from yihao_shared.departments import ALIASES as ALIASES
from yihao_shared.departments import code_of as code_of

#: The department that defines the national licence types (definer of the type codes).
NATIONAL_DEFINER = "11100000000013338W"


@dataclass(frozen=True)
class DemoDepartment:
    """A demo department with its alias for the command line."""

    alias: str
    credit_code: str
    name: str
    region: str
    roles: frozenset[Role]


def _dept(alias: str, code: str, name: str, *roles: Role) -> DemoDepartment:
    return DemoDepartment(alias, code, name, "350100", frozenset(roles))


R = Role
DEPARTMENTS: tuple[DemoDepartment, ...] = (
    _dept("data", "11350100518190937A", "福州市政务服务数据管理局", R.ADMINISTRATOR, R.SUPERVISOR),
    _dept(
        "market", "1135010052601815X2", "福州市市场监督管理局", R.OPERATOR, R.PROVIDER, R.HANDLER
    ),
    _dept("civil", "113501009083016632", "福州市民政局", R.OPERATOR, R.PROVIDER),
    _dept(
        "police",
        "11350100131860916B",
        "福州市公安局",
        R.OPERATOR,
        R.PROVIDER,
        R.REQUESTER,
        R.HANDLER,
    ),
    _dept(
        "hrss",
        "113501003909960333",
        "福州市人力资源和社会保障局",
        R.OPERATOR,
        R.PROVIDER,
        R.REQUESTER,
    ),
    _dept("housing", "11350100082462814Q", "福州市住房和城乡建设局", R.REQUESTER, R.HANDLER),
    _dept("education", "11350100948219939R", "福州市教育局", R.OPERATOR, R.PROVIDER),
    _dept("hall", "11350100786579754C", "福州市行政服务中心", R.HANDLER, R.REQUESTER),
    _dept("portal", "113501004323194882", "闽政通（福州）", R.HOLDER_PORTAL),
    _dept("supervision", "1135010075749118XX", "福州市电子监察中心", R.SUPERVISOR),
)

# ALIASES and code_of are yihao_shared.departments' (the client ships them); the departments
# above carry exactly those codes (tests/yihao_shared/test_departments.py).


def _f(
    name: str,
    label: str,
    kind: FieldType = FieldType.STRING,
    *,
    required: bool = False,
    sensitive: bool = False,
    max_length: int = 512,
) -> FieldSpec:
    return FieldSpec(name, label, kind, required, sensitive, max_length)


BUSINESS_LICENCE = LicenceType(
    type_code=f"{NATIONAL_DEFINER}011",
    name="营业执照",
    holder_kind=HolderKind.ORGANISATION,
    fields=(
        _f("legal_representative", "法定代表人", required=True),
        _f("company_type", "类型", required=True),
        _f("registered_capital", "注册资本（万元）", FieldType.DECIMAL, required=True),
        _f("established_on", "成立日期", FieldType.DATE, required=True),
        _f("address", "住所", required=True),
        _f("business_scope", "经营范围", required=True, max_length=2000),
        _f("operating_until", "营业期限至", FieldType.DATE),
    ),
    default_validity_days=0,
    issuer_codes=frozenset({ALIASES["market"]}),
)

MARRIAGE_CERTIFICATE = LicenceType(
    type_code=f"{NATIONAL_DEFINER}032",
    name="结婚证",
    holder_kind=HolderKind.PERSON,
    fields=(
        _f("spouse_name", "配偶姓名", required=True, sensitive=True),
        _f("spouse_id_number", "配偶身份证件号", required=True, sensitive=True, max_length=18),
        _f("registered_on", "登记日期", FieldType.DATE, required=True),
        _f("registration_office", "登记机关", required=True),
        _f("certificate_serial", "结婚证字号", required=True),
    ),
    default_validity_days=0,
    issuer_codes=frozenset({ALIASES["civil"]}),
)

RESIDENCE_PERMIT = LicenceType(
    type_code=f"{NATIONAL_DEFINER}009",
    name="居住证",
    holder_kind=HolderKind.PERSON,
    fields=(
        _f("sex", "性别", required=True, max_length=2),
        _f("domicile", "户籍地址", required=True, sensitive=True),
        _f("residence_address", "居住地址", required=True, sensitive=True),
        _f("issuing_office", "签发机关", required=True),
        _f("endorsed_until", "签注有效期至", FieldType.DATE),
    ),
    default_validity_days=365,
    issuer_codes=frozenset({ALIASES["police"]}),
)

QUALIFICATION_CERTIFICATE = LicenceType(
    type_code=f"{NATIONAL_DEFINER}021",
    name="职业资格证书",
    holder_kind=HolderKind.PERSON,
    fields=(
        _f("occupation", "职业（工种）", required=True),
        _f("level", "等级", required=True, max_length=20),
        _f("awarded_on", "发证日期", FieldType.DATE, required=True),
        _f("awarding_body", "评价机构", required=True),
        _f("theory_score", "理论知识考试成绩", FieldType.INTEGER),
        _f("skill_score", "操作技能考核成绩", FieldType.INTEGER),
    ),
    default_validity_days=0,
    issuer_codes=frozenset({ALIASES["hrss"]}),
    # Reads by holder number need the holder's consent (授权用证): docs/holders.md.
    consent_required=True,
)

LICENCE_TYPES: tuple[LicenceType, ...] = (
    BUSINESS_LICENCE,
    MARRIAGE_CERTIFICATE,
    RESIDENCE_PERMIT,
    QUALIFICATION_CERTIFICATE,
)

#: Read grants (department × licence type): the purposes a department may state when it reads
#: a type's licences, and the content fields it may see. The housing bureau checks marriage for
#: housing subsidies only, and sees the registration and the spouse's name masked, not the
#: spouse's ID number.
READ_GRANTS: tuple[ReadGrant, ...] = (
    ReadGrant(
        department_code=ALIASES["housing"],
        type_code=MARRIAGE_CERTIFICATE.type_code,
        purposes=("住房保障资格审核", "公积金贷款审核"),
        fields=("holder_name", "spouse_name", "registered_on", "registration_office"),
    ),
)
