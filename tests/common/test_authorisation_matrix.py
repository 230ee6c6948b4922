"""Every RPC of every service, called by a department holding each single role; and, object
by object, every demo department against a licence of each issuer and type.

The expected decision comes from the policy table; the test fails for an RPC that has no
rule (a new RPC must be given one), and for any RPC whose real answer disagrees with the
table: denied calls must fail with PERMISSION_DENIED / ROLE_REQUIRED before any handler runs,
allowed calls must get past authorisation (whatever the handler then says of the empty
request).
"""

from __future__ import annotations

import functools
import random

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from stdnum.cn import uscc

from services.common.authz import FEDERATION_RPCS, POLICY
from services.common.licence_ids import LicenceIdentifier, parse_licence_identifier
from services.common.pki import issue_client_cert
from services.common.roles import Role
from services.licence_store import demo
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2, common_pb2, federation_pb2, licence_store_pb2, verifier_pb2

MODULES = (common_pb2, licence_store_pb2, verifier_pb2, assistance_pb2)


def _credit_code(rng: random.Random) -> str:
    body = "".join(rng.choice("0123456789") for _ in range(8))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11
    code17 = "11350100" + body + ("X" if check == 10 else "0" if check == 11 else str(check))
    return code17 + uscc.calc_check_digit(code17)


def _methods():
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield f"/{service.full_name}/{method.name}", method


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


@pytest.fixture
def role_channels(stack: Stack):
    rng = random.Random(20261121)
    channels = {}
    for role in Role:
        code = _credit_code(rng)
        stack.app.licence_store.catalogue.register_department(
            code, f"测试部门-{role.value}", "350100", [role]
        )
        cert, key = issue_client_cert(stack.pki, code, f"test {role.value}")
        creds = grpc.ssl_channel_credentials(stack.pki.ca_cert().read_bytes(), key, cert)
        channels[role] = grpc.secure_channel(stack.address, creds)
    yield channels
    for ch in channels.values():
        ch.close()


def _call(channel: grpc.Channel, path: str, method) -> grpc.RpcError | None:
    request = method.input_type._concrete_class()
    serialize = type(request).SerializeToString
    deserialize = method.output_type._concrete_class.FromString
    if method.client_streaming and method.server_streaming:
        call = channel.stream_stream(path, serialize, deserialize)(iter([request]), timeout=10)
    elif method.server_streaming:
        call = channel.unary_stream(path, serialize, deserialize)(request, timeout=10)
    elif method.client_streaming:
        call = channel.stream_unary(path, serialize, deserialize)
        try:
            call(iter([request]), timeout=10)
        except grpc.RpcError as exc:
            return exc
        return None
    else:
        try:
            channel.unary_unary(path, serialize, deserialize)(request, timeout=10)
        except grpc.RpcError as exc:
            return exc
        return None
    try:
        list(call)
    except grpc.RpcError as exc:
        return exc
    return None


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def test_every_rpc_has_a_rule():
    assert {path for path, _ in _methods()} == set(POLICY)


def test_every_rpc_against_every_role(role_channels, stack: Stack):
    mismatches = []
    for path, method in _methods():
        if method.server_streaming and method.name.startswith("Watch"):
            continue  # checked below without follow (a follow stream never ends)
        for role, channel in role_channels.items():
            error = _call(channel, path, method)
            denied = error is not None and _reason(error) == "ROLE_REQUIRED"
            if denied == (role in POLICY[path]):
                mismatches.append((path, role.value, error.code() if error else "OK"))
    assert not mismatches


def test_watch_streams_are_authorised_too(role_channels):
    for path, method in _methods():
        if not method.name.startswith("Watch"):
            continue
        for role, channel in role_channels.items():
            error = _call(channel, path, method)  # follow=false: ends after the backlog
            denied = error is not None and _reason(error) == "ROLE_REQUIRED"
            assert denied != (role in POLICY[path]), (path, role)


# --- object level: exporting a licence (document or QR) is for its issuer and holder portals

MISSING = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"


def _issue_demo_licences(stack: Stack) -> dict[str, str]:
    """One licence of each of two issuers: {issuer alias: licence id}."""
    marriage = stack.store("civil").IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key="matrix-marriage-1",
            type_code=demo.MARRIAGE_CERTIFICATE.type_code,
            licence_number="J350100-2026-900001",
            holder=common_pb2.Holder(number="11010519491231002X", name="张三"),
            fields={
                "spouse_name": "李四",
                "spouse_id_number": "360426199101010071",
                "registered_on": "2026-05-20",
                "registration_office": "福州市鼓楼区民政局婚姻登记处",
                "certificate_serial": "J350102-2026-900001",
            },
        )
    )
    business = stack.store("market").IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key="matrix-business-1",
            type_code=demo.BUSINESS_LICENCE.type_code,
            licence_number="350100-2026-900001",
            holder=common_pb2.Holder(number="91350100M000100Y43", name="示例有限公司"),
            fields=BUSINESS_FIELDS,
        )
    )
    return {"civil": marriage.licence_id, "market": business.licence_id}


def _export_calls(stack: Stack, alias: str, licence_id: str):
    ref = licence_store_pb2.LicenceRef(licence_id=licence_id)
    verifier = stack.verifier(alias)
    yield (
        "ExportDocument",
        lambda: verifier.ExportDocument(verifier_pb2.ExportDocumentRequest(licence=ref)),
    )
    yield (
        "ExportDocument(version=1)",
        lambda: verifier.ExportDocument(verifier_pb2.ExportDocumentRequest(licence=ref, version=1)),
    )
    yield (
        "IssueQrPayload",
        lambda: verifier.IssueQrPayload(verifier_pb2.IssueQrPayloadRequest(licence=ref)),
    )


def _outcome(call) -> tuple[str, str, str]:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code().name, exc.details() or "", _reason(exc)
    return "OK", "", ""


def test_export_and_qr_are_for_the_issuer_and_holder_portals_only(stack: Stack):
    licences = _issue_demo_licences(stack)
    wrong = []
    for dept in demo.DEPARTMENTS:
        exporter = bool(dept.roles & {Role.OPERATOR, Role.HOLDER_PORTAL})
        missing = dict(
            (name, _outcome(call)) for name, call in _export_calls(stack, dept.alias, MISSING)
        )
        for issuer, licence_id in licences.items():
            allowed = dept.alias == issuer or Role.HOLDER_PORTAL in dept.roles
            for name, call in _export_calls(stack, dept.alias, licence_id):
                got = _outcome(call)
                if allowed:
                    ok = got[0] == "OK"
                elif exporter:  # same answer as for a licence that does not exist
                    ok = got == missing[name] and got[0] == "NOT_FOUND"
                else:
                    ok = got[0] == "PERMISSION_DENIED" and got[2] == "ROLE_REQUIRED"
                if not ok:
                    wrong.append((dept.alias, issuer, name, got))
    assert not wrong


# ------------------------------------------------------------------------- object level
#
# Each demo department × each read RPC × a licence of each demo type (each issued by its own
# issuer): the content is shown to the issuer, the holder portal and departments a read grant
# allows (only the granted fields, sensitive ones masked unless granted), and an
# organisation's licence (public registration data) to every reader; to everyone else the
# licence is NOT_FOUND exactly as one that does not exist, and verification still answers.

PERSON = "11010519491231002X"
SPOUSE = "110105195506150025"
COMPANY = "91350100M000100Y43"
WHY = {"purpose": "住房保障资格审核", "case_number": "ZJ-2026-0001"}
DEMO_FIELDS = {
    demo.BUSINESS_LICENCE.type_code: BUSINESS_FIELDS,
    demo.MARRIAGE_CERTIFICATE.type_code: {
        "spouse_name": "李四",
        "spouse_id_number": SPOUSE,
        "registered_on": "2026-05-20",
        "registration_office": "福州市鼓楼区民政局婚姻登记处",
        "certificate_serial": "J350102-2026-000123",
    },
    demo.RESIDENCE_PERMIT.type_code: {
        "sex": "男",
        "domicile": "北京市西城区",
        "residence_address": "福州市台江区八一七中路2号",
        "issuing_office": "福州市公安局台江分局",
    },
    demo.QUALIFICATION_CERTIFICATE.type_code: {
        "occupation": "电工",
        "level": "三级",
        "awarded_on": "2025-01-10",
        "awarding_body": "福州市职业技能鉴定中心",
    },
}


def _issue_one_of_each(stack: Stack) -> dict[str, licence_store_pb2.Licence]:
    issued = {}
    for lt in demo.LICENCE_TYPES:
        issuer = next(a for a, c in demo.ALIASES.items() if c in lt.issuer_codes)
        holder = COMPANY if lt.holder_kind.value == "organisation" else PERSON
        issued[lt.type_code] = stack.store(issuer).IssueLicence(
            licence_store_pb2.IssueLicenceRequest(
                idempotency_key=f"matrix-{lt.type_code}",
                type_code=lt.type_code,
                licence_number=f"M-{lt.type_code[-3:]}",
                holder=common_pb2.Holder(number=holder, name="张三"),
                fields=DEMO_FIELDS[lt.type_code],
            )
        )
    return issued


def _expected_fields(alias: str, lt) -> set[str] | None:
    """The fields ``alias`` may see of a licence of ``lt`` (None: nothing — not found)."""
    code = demo.ALIASES[alias]
    roles = next(d.roles for d in demo.DEPARTMENTS if d.alias == alias)
    if code in lt.issuer_codes or Role.HOLDER_PORTAL in roles:
        return set(DEMO_FIELDS[lt.type_code])
    grant = next(
        (g for g in demo.READ_GRANTS if (g.department_code, g.type_code) == (code, lt.type_code)),
        None,
    )
    if grant is not None and grant.fields:
        return set(DEMO_FIELDS[lt.type_code]) & set(grant.fields)
    if lt.holder_kind.value == "organisation":
        return set(DEMO_FIELDS[lt.type_code])
    return None


def _answer(call, request) -> tuple[str, str]:
    try:
        call(request)
    except grpc.RpcError as exc:
        return exc.code().name, _reason(exc)
    return "OK", ""


def test_every_department_reads_exactly_what_it_is_allowed_of_each_licence(stack: Stack):
    issued = _issue_one_of_each(stack)
    readers = [d.alias for d in demo.DEPARTMENTS if d.roles & POLICY[_GET]]
    for alias in readers:
        store = stack.store(alias)
        listed = {
            lic.licence_id: lic
            for holder in (PERSON, COMPANY)
            for lic in store.ListLicencesByHolder(
                licence_store_pb2.ListLicencesByHolderRequest(holder_number=holder, **WHY)
            ).licences
        }
        for lt in demo.LICENCE_TYPES:
            licence = issued[lt.type_code]
            expected = _expected_fields(alias, lt)
            ref = licence_store_pb2.LicenceRef(licence_id=licence.licence_id)
            request = licence_store_pb2.GetLicenceRequest(licence=ref, **WHY)
            cell = (alias, lt.name)
            if expected is None:
                missing = _missing_like(licence.licence_id)
                absent = _answer(
                    store.GetLicence, licence_store_pb2.GetLicenceRequest(licence=missing, **WHY)
                )
                assert absent == ("NOT_FOUND", "LICENCE_NOT_FOUND"), cell
                assert _answer(store.GetLicence, request) == absent, cell
                assert _answer(store.GetLicenceHistory, request) == absent, cell
                assert licence.licence_id not in listed, cell
                continue
            got = store.GetLicence(request)
            assert set(got.fields) == expected, cell
            _assert_masked(alias, lt, got)
            history = store.GetLicenceHistory(request)
            assert set(history.versions[-1].fields) == expected, cell
            assert set(listed[licence.licence_id].fields) == expected, cell


def _assert_masked(alias: str, lt, got: licence_store_pb2.Licence) -> None:
    whole = demo.ALIASES[alias] in lt.issuer_codes or alias == "portal"
    for spec in lt.fields:
        if spec.name in got.fields and spec.sensitive:
            shown = got.fields[spec.name]
            assert (shown == DEMO_FIELDS[lt.type_code][spec.name]) == whole, (alias, spec.name)


def _missing_like(licence_id: str) -> licence_store_pb2.LicenceRef:
    """A well-formed identifier of the same type and issuer that names no licence."""
    ident = parse_licence_identifier(licence_id, "licence_id")
    serial = ident.serial[:-1] + ("0" if ident.serial[-1] != "0" else "1")
    other = LicenceIdentifier(ident.type_code, ident.issuer_code, serial, ident.version)
    return licence_store_pb2.LicenceRef(licence_id=str(other))


def test_verification_answers_every_verifier_about_every_licence(stack: Stack):
    issued = _issue_one_of_each(stack)
    verifiers = [d.alias for d in demo.DEPARTMENTS if d.roles & POLICY[_VERIFY]]
    for alias in verifiers:
        for lt in demo.LICENCE_TYPES:
            ref = licence_store_pb2.LicenceRef(licence_id=issued[lt.type_code].licence_id)
            answer = stack.verifier(alias).VerifyLicence(
                verifier_pb2.VerifyLicenceRequest(licence=ref)
            )
            assert answer.verdict == verifier_pb2.VERDICT_VALID, (alias, lt.name)


def test_watch_events_shows_each_department_only_the_types_it_may_read(stack: Stack):
    issued = _issue_one_of_each(stack)
    readers = [d.alias for d in demo.DEPARTMENTS if d.roles & POLICY[_WATCH]]
    for alias in readers:
        events = stack.store(alias).WatchEvents(
            licence_store_pb2.WatchEventsRequest(after_cursor=0, follow=False), timeout=10
        )
        seen = {e.type_code for e in events}
        code = demo.ALIASES[alias]
        expected = {
            lt.type_code
            for lt in demo.LICENCE_TYPES
            if code in lt.issuer_codes or _expected_fields(alias, lt) is not None
        }
        assert seen == expected & set(issued), alias


_GET = "/yihao.v1.LicenceStore/GetLicence"
_WATCH = "/yihao.v1.LicenceStore/WatchEvents"
_VERIFY = "/yihao.v1.Verifier/VerifyLicence"


def _federation_methods():
    for service in federation_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            yield f"/{service.full_name}/{method.name}", method


def test_every_federation_rpc_has_a_rule():
    assert {path for path, _ in _federation_methods()} == {
        f"/yihao.v1.Federation/{name}" for name in FEDERATION_RPCS
    }


def test_no_department_reaches_a_federation_rpc(role_channels):
    """Federation RPCs are not served on the departments' port at all (peers call them on the
    federation listener, under a region's certificate: tests/federation/test_regions.py)."""
    for path, method in _federation_methods():
        for role, channel in role_channels.items():
            error = _call(channel, path, method)
            assert error is not None and error.code() == grpc.StatusCode.UNIMPLEMENTED, role


# ----------------------------------------------------------------- consent (授权用证), object level
#
# Each demo department × each read by holder number it may call × the demo's consent-required
# licence type: its issuer and the holder portal read without a grant; every other department is
# refused CONSENT_REQUIRED without one — the same answer for a person who holds such a licence
# and one who does not — and answered with a grant given to it.

_CONSENT_READS = {
    "ListLicencesByHolder": "/yihao.v1.LicenceStore/ListLicencesByHolder",
    "VerifyByHolder": "/yihao.v1.Verifier/VerifyByHolder",
    "SubmitRequest": "/yihao.v1.Assistance/SubmitRequest",
}
_CONSENT_ITEM = "XZXZ-RS-001"  # consent required, reads the qualification certificate
NOBODY = "360426199101010071"


def _consent_read(stack: Stack, alias: str, name: str, holder: str, grant_id: str):
    qualification = demo.QUALIFICATION_CERTIFICATE.type_code
    if name == "ListLicencesByHolder":
        return stack.store(alias).ListLicencesByHolder(
            licence_store_pb2.ListLicencesByHolderRequest(
                holder_number=holder, type_codes=[qualification], consent_grant_id=grant_id, **WHY
            )
        )
    if name == "VerifyByHolder":
        return stack.verifier(alias).VerifyByHolder(
            verifier_pb2.VerifyByHolderRequest(
                holder_number=holder, type_codes=[qualification], consent_grant_id=grant_id, **WHY
            )
        )
    return stack.assistance(alias).SubmitRequest(
        assistance_pb2.SubmitRequestRequest(
            idempotency_key=f"matrix-consent-{alias}-{holder}-{grant_id[-6:] or 'none'}",
            item_code=_CONSENT_ITEM,
            holder_number=holder,
            consent_grant_id=grant_id,
            **WHY,
        )
    )


def _grant_to(stack: Stack, alias: str) -> str:
    return (
        stack.store("portal")
        .GrantConsent(
            licence_store_pb2.GrantConsentRequest(
                holder_number=PERSON,
                department_code=demo.ALIASES[alias],
                type_codes=[demo.QUALIFICATION_CERTIFICATE.type_code],
                case_number=WHY["case_number"],
                valid_days=30,
            )
        )
        .grant_id
    )


def test_reads_by_holder_number_of_consent_required_data_need_a_grant(stack: Stack):
    _issue_one_of_each(stack)
    lt = demo.QUALIFICATION_CERTIFICATE
    assert lt.consent_required
    wrong = []
    for dept in demo.DEPARTMENTS:
        for name, path in _CONSENT_READS.items():
            if not dept.roles & POLICY[path]:
                continue  # refused ROLE_REQUIRED: the role half above
            if name == "SubmitRequest" and dept.credit_code not in _item_requesters(stack):
                continue  # ITEM_NOT_GRANTED: the item's own rule
            exempt = dept.credit_code in lt.issuer_codes or Role.HOLDER_PORTAL in dept.roles
            read = functools.partial(_consent_read, stack, dept.alias, name)
            held = _outcome(functools.partial(read, PERSON, ""))
            not_held = _outcome(functools.partial(read, NOBODY, ""))
            if exempt and name != "SubmitRequest":
                ok = held[0] == "OK"
            else:
                granted = _grant_to(stack, dept.alias)
                with_grant = _outcome(functools.partial(read, PERSON, granted))
                ok = held == not_held and held[0] == "PERMISSION_DENIED"
                ok = ok and held[2] == "CONSENT_REQUIRED" and with_grant[0] == "OK"
            if not ok:
                wrong.append((dept.alias, name, held, not_held))
    assert not wrong


def _item_requesters(stack: Stack) -> set[str]:
    items = stack.assistance("data").ListItems(assistance_pb2.ListItemsRequest(text=_CONSENT_ITEM))
    return {c for i in items.items if i.code == _CONSENT_ITEM for c in i.requester_codes}
