"""The holder's page with fake services: development sign-in only in development mode, the ID
number never in a URL, a cookie or the log; holder and staff sessions apart; the portal's
assertion; 亮证 only for the holder's own licences; the consent form's errors by field (the
desk's and the services'); a form posted twice grants once; revoking."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from google.protobuf.timestamp_pb2 import Timestamp
from starlette.testclient import TestClient

from clients.web.app import create_app
from clients.web.config import WebSettings
from tests.clients.web.conftest import FakeBackend, FakeClock, csrf_of, sign_in
from tests.clients.web.test_holder_identity import AUDIENCE, ISSUER, sign, write_keys
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import common_pb2 as cpb
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.departments import code_of
from yihao_shared.errors import FieldViolation, InvalidArgument

PERSON = "11010519491231002X"
ORGANISATION = "91350100M000100Y43"
QUALIFICATION = "11100000000013338W021"
HOUSING = code_of("housing")
MINE = "1.2.156.3005.2.11100000000013338W021.113501003909960333.2026AAAA.001.L"


@dataclass
class FakePortal:
    """The holder portal's calls as the page makes them."""

    asked: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    grants: list[pb.ConsentGrant] = field(default_factory=list)
    refuse_grant: InvalidArgument | None = None

    def list_licences_by_holder(self, **kw: Any) -> pb.ListLicencesResponse:
        self.asked.append(("list_licences_by_holder", kw))
        lic = pb.Licence(
            licence_id=MINE,
            type_code=QUALIFICATION,
            type_name="职业资格证书",
            licence_number="RS-2025-000001",
            issuer_name="福州市人社局",
            valid_from="2025-01-10",
            effective_status=cpb.EFFECTIVE_STATUS_VALID,
        )
        return pb.ListLicencesResponse(licences=[lic])

    def issue_qr_payload(self, **kw: Any) -> Any:
        self.asked.append(("issue_qr_payload", kw))
        from yihao.v1 import verifier_pb2 as vpb

        return vpb.QrPayload(payload="YH1.eyJrIjoicXIifQ.c2ln", expires_at=Timestamp(seconds=2))

    def list_access_records(self, **kw: Any) -> apb.ListAccessRecordsResponse:
        self.asked.append(("list_access_records", kw))
        record = apb.AccessRecord(
            department_code=HOUSING,
            department_name="福州市住房和城乡建设局",
            channel="verification",
            purpose="住房保障资格审核",
            case_number="ZJ-2026-0042",
            what="职业资格证书 RS-2025-000001: verified, VALID",
            staff="li.si",
            log_ref="B20261204ABCDEF",
        )
        return apb.ListAccessRecordsResponse(records=[record])

    def list_departments(self, **kw: Any) -> pb.ListDepartmentsResponse:
        return pb.ListDepartmentsResponse(
            departments=[pb.Department(credit_code=HOUSING, name="福州市住房和城乡建设局")]
        )

    def all_licence_types(self, **kw: Any) -> Iterator[pb.LicenceType]:
        yield pb.LicenceType(
            type_code=QUALIFICATION, name="职业资格证书", holder_kind=cpb.HOLDER_KIND_PERSON
        )
        yield pb.LicenceType(
            type_code="11100000000013338W011",
            name="营业执照",
            holder_kind=cpb.HOLDER_KIND_ORGANISATION,
        )

    def list_consents(self, **kw: Any) -> pb.ListConsentsResponse:
        self.asked.append(("list_consents", kw))
        return pb.ListConsentsResponse(grants=list(reversed(self.grants)))

    def grant_consent(self, **kw: Any) -> pb.ConsentGrant:
        self.asked.append(("grant_consent", kw))
        if self.refuse_grant is not None:
            raise self.refuse_grant
        made = pb.ConsentGrant(
            grant_id=f"CG2026120412000000000000000000{len(self.grants):02d}",
            department_code=kw["department_code"],
            type_codes=kw["type_codes"],
            licence_id=kw["licence_id"],
            case_number=kw["case_number"],
            state=pb.CONSENT_STATE_ACTIVE,
        )
        self.grants.append(made)
        return made

    def revoke_consent(self, **kw: Any) -> pb.ConsentGrant:
        self.asked.append(("revoke_consent", kw))
        for grant in self.grants:
            if grant.grant_id == kw["grant_id"]:
                grant.state = pb.CONSENT_STATE_REVOKED
                return grant
        from yihao_shared.errors import NotFound

        raise NotFound("no such grant", reason="CONSENT_NOT_FOUND")


@dataclass
class HolderBackend(FakeBackend):
    portal: FakePortal = field(default_factory=FakePortal)
    departments_asked: list[str] = field(default_factory=list)

    def for_department(self, department: str, *, staff: str | None = None) -> FakePortal:
        self.departments_asked.append(department)
        return self.portal


def make_client(settings: WebSettings, clock: FakeClock, backend: HolderBackend) -> Any:
    app = create_app(settings, clock=clock, backend=backend)  # type: ignore[arg-type]
    return TestClient(app, follow_redirects=False)


@pytest.fixture
def holder_backend() -> HolderBackend:
    return HolderBackend()


@pytest.fixture
def dev_client(web_settings, clock, holder_backend) -> Iterator[TestClient]:
    with make_client(web_settings.with_overrides(dev=True), clock, holder_backend) as client:
        yield client


def logged_code(caplog: pytest.LogCaptureFixture) -> str:
    for record in reversed(caplog.records):
        text = record.getMessage()
        if "web.holder_dev_code" in text:
            return str(json.loads(text)["code"])
    raise AssertionError("no code logged")


def holder_sign_in(
    client: TestClient, caplog: pytest.LogCaptureFixture, number: str = PERSON
) -> None:
    page = client.get("/me/signin")
    with caplog.at_level(logging.INFO, logger="yihao.web.holder"):
        asked = client.post(
            "/me/signin/code", data={"csrf_token": csrf_of(page.text), "holder_number": number}
        )
        assert asked.status_code == 200
        pending = re.search(r'name="pending" value="([^"]+)"', asked.text)
        assert pending is not None
        done = client.post(
            "/me/signin/verify",
            data={
                "csrf_token": csrf_of(asked.text),
                "pending": pending.group(1),
                "code": logged_code(caplog),
            },
        )
    assert done.status_code == 303 and done.headers["location"] == "/me"
    cookie = done.headers["set-cookie"]
    assert "Path=/me" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert number not in cookie and number not in caplog.text


def test_without_development_mode_there_is_no_code_sign_in(desk_client, backend) -> None:
    page = desk_client.get("/me/signin")
    assert page.status_code == 200 and 'id="ask-code"' not in page.text
    assert 'id="no-portal"' in page.text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    refused = desk_client.post(
        "/me/signin/code", data={"csrf_token": token.group(1), "holder_number": PERSON}
    )
    assert refused.status_code == 403 and "YIHAO_WEB_DEV" in refused.text


def test_a_bad_number_is_named_and_nothing_is_logged(dev_client, caplog) -> None:
    page = dev_client.get("/me/signin")
    with caplog.at_level(logging.INFO, logger="yihao.web.holder"):
        answer = dev_client.post(
            "/me/signin/code",
            data={"csrf_token": csrf_of(page.text), "holder_number": "110105194912310021"},
        )
    assert answer.status_code == 400 and 'id="e-holder_number"' in answer.text
    assert "校验码" in answer.text and "web.holder_dev_code" not in caplog.text


def test_code_sign_in_needs_the_csrf_token(dev_client) -> None:
    dev_client.get("/me/signin")
    refused = dev_client.post("/me/signin/code", data={"holder_number": PERSON})
    assert refused.status_code == 403


def test_a_wrong_code_counts_down(dev_client, caplog) -> None:
    page = dev_client.get("/me/signin")
    with caplog.at_level(logging.INFO, logger="yihao.web.holder"):
        asked = dev_client.post(
            "/me/signin/code", data={"csrf_token": csrf_of(page.text), "holder_number": PERSON}
        )
    pending = re.search(r'name="pending" value="([^"]+)"', asked.text).group(1)  # type: ignore[union-attr]
    wrong = "000000" if logged_code(caplog) != "000000" else "111111"
    answer = dev_client.post(
        "/me/signin/verify",
        data={"csrf_token": csrf_of(asked.text), "pending": pending, "code": wrong},
    )
    assert answer.status_code == 400 and 'id="e-code"' in answer.text and "4" in answer.text


def test_the_holders_pages_through_the_portal(dev_client, caplog, holder_backend) -> None:
    assert dev_client.get("/me").headers["location"] == "/me/signin?m=signin_required"
    holder_sign_in(dev_client, caplog)
    page = dev_client.get("/me")
    assert page.status_code == 200 and f'data-licence="{MINE}"' in page.text
    assert 'data-status="valid"' in page.text and f'href="/me/show/{MINE}"' in page.text
    assert set(holder_backend.departments_asked) == {code_of("portal")}
    listed = holder_backend.portal.asked[0]
    assert listed == (
        "list_licences_by_holder",
        {
            "holder_number": PERSON,
            "page_size": 100,
            "purpose": "持证人本人查看 the holder's own view",
            "case_number": "SELF",
        },
    )

    shown = dev_client.get(f"/me/show/{MINE}")
    assert shown.status_code == 200 and "<svg" in shown.text
    assert 'hx-trigger="load delay:60s"' in shown.text  # 90 s codes, refreshed at 60 s
    assert holder_backend.portal.asked[-1][1]["ttl_seconds"] == 90
    assert dev_client.get("/me/show/1.2.156.3005.2.OTHERS.001.L").status_code == 404
    assert dev_client.get(f"/me/show/{MINE}/qr").text.startswith('<div id="qr"')

    records = dev_client.get("/me/records")
    assert 'value="B20261204ABCDEF"' in records.text and "li.si" in records.text
    assert PERSON not in records.text


def test_a_grant_for_one_licence(dev_client, caplog, holder_backend) -> None:
    """The form grants one of the holder's own licences instead of types (not both)."""
    holder_sign_in(dev_client, caplog)
    portal = holder_backend.portal
    page = dev_client.get("/me/consents").text
    assert f'<option value="{MINE}">职业资格证书 RS-2025-000001</option>' in page
    terms = {"department": HOUSING, "case_number": "ZJ-2026-0042", "valid_days": "30"}
    both = _grant_form(dev_client, **terms, types=[QUALIFICATION], licence=MINE)
    refused = dev_client.post("/me/consents", data=both)
    assert refused.status_code == 400 and 'id="e-licence"' in refused.text
    others = _grant_form(dev_client, **terms, licence="1.2.156.3005.2.OTHERS.001.L")
    refused = dev_client.post("/me/consents", data=others)
    assert refused.status_code == 400 and "须从您的证照中选择" in refused.text
    assert not any(call == "grant_consent" for call, _ in portal.asked)

    granted = dev_client.post("/me/consents", data=_grant_form(dev_client, **terms, licence=MINE))
    assert granted.status_code == 200 and 'id="granted"' in granted.text
    asked = [kw for call, kw in portal.asked if call == "grant_consent"][-1]
    assert (asked["licence_id"], asked["type_codes"]) == (MINE, [])
    assert MINE in granted.text  # the list says what the grant may read


def test_an_organisation_signs_in_for_its_credit_code(dev_client, caplog, holder_backend):
    """Development sign-in with a credit code (the code in the log stands in for the portal's
    check of the representative): the page lists the organisation's licences."""
    holder_sign_in(dev_client, caplog, ORGANISATION)
    assert dev_client.get("/me").status_code == 200
    listed = holder_backend.portal.asked[0]
    assert listed[0] == "list_licences_by_holder"
    assert listed[1]["holder_number"] == ORGANISATION
    consents = dev_client.get("/me/consents").text  # an organisation's types, not a person's
    assert 'name="types" value="11100000000013338W011"' in consents
    assert f'name="types" value="{QUALIFICATION}"' not in consents


def test_staff_and_holder_sessions_do_not_cross(dev_client, caplog) -> None:
    holder_sign_in(dev_client, caplog)
    assert dev_client.get("/counter").headers["location"].startswith("/signin?")
    sign_in(dev_client, "handler")
    assert dev_client.get("/counter").status_code == 200
    assert dev_client.get("/me").status_code == 200  # the holder cookie, still its own
    dev_client.cookies.delete("yihao-holder", path="/me")
    assert dev_client.get("/me").headers["location"] == "/me/signin?m=signin_required"


def _grant_form(client: TestClient, **fields: Any) -> dict[str, Any]:
    page = client.get("/me/consents").text
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page)
    assert key is not None
    return {"csrf_token": csrf_of(page), "idempotency_key": key.group(1), **fields}


def test_the_consent_form(dev_client, caplog, holder_backend) -> None:
    holder_sign_in(dev_client, caplog)
    portal = holder_backend.portal
    page = dev_client.get("/me/consents").text
    assert "营业执照" not in page  # an organisation's type is not offered to a person
    bad = dev_client.post(
        "/me/consents",
        data=_grant_form(dev_client, department="", valid_days="0"),
    )
    assert bad.status_code == 400
    for name in ("department", "types", "case_number", "valid_days"):
        assert f'id="e-{name}"' in bad.text, name
    assert not any(call == "grant_consent" for call, _ in portal.asked)

    portal.refuse_grant = InvalidArgument(
        violations=[FieldViolation("valid_days", "at most 90 days", "CONSENT_TOO_LONG")]
    )
    good = {
        "department": HOUSING,
        "types": [QUALIFICATION],
        "case_number": "ZJ-2026-0042",
        "valid_days": "120",
    }
    refused = dev_client.post("/me/consents", data=_grant_form(dev_client, **good))
    assert refused.status_code == 400 and "CONSENT_TOO_LONG" in refused.text
    assert re.search(r'id="e-valid_days">[^<]*at most 90 days', refused.text)

    portal.refuse_grant = None
    form = _grant_form(dev_client, **good)
    first = dev_client.post("/me/consents", data=form)
    second = dev_client.post("/me/consents", data=form)  # the same form again: granted once
    assert first.status_code == second.status_code == 200
    assert 'id="granted"' in first.text and 'id="granted"' in second.text
    grants = [kw for call, kw in portal.asked if call == "grant_consent"]
    assert len(grants) == 2 and len(portal.grants) == 1  # one refused, one granted
    assert grants[-1] == {
        "idempotency_key": form["idempotency_key"],
        "holder_number": PERSON,
        "department_code": HOUSING,
        "type_codes": [QUALIFICATION],
        "licence_id": "",
        "item_code": "",
        "case_number": "ZJ-2026-0042",
        "valid_days": 120,
        "acting_person": "",  # a person's own grant: no one acting for them
    }

    grant_id = portal.grants[0].grant_id
    page = dev_client.get("/me/consents").text
    revoked = dev_client.post(f"/me/consents/{grant_id}/revoke", data={"csrf_token": csrf_of(page)})
    assert revoked.headers["location"] == "/me/consents?m=consent_revoked"
    assert portal.grants[0].state == pb.CONSENT_STATE_REVOKED
    unknown = dev_client.post(
        "/me/consents/CG20261204120000000000000000009999/revoke",
        data={"csrf_token": csrf_of(page)},
    )
    assert unknown.status_code == 404


IDP_URL = "https://id.mzt.example.gov.cn/authorize?tenant=fz"


@pytest.fixture
def idp_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def idp_settings(web_settings, idp_key, tmp_path: Path) -> WebSettings:
    return web_settings.with_overrides(
        holder_idp_keys=write_keys(tmp_path / "idp.json", idp_key),
        holder_idp_issuer=ISSUER,
        holder_idp_url=IDP_URL,
    )


def portal_nonce(client: TestClient) -> str:
    """Start a sign-in as the page's link does; the nonce the desk sent to the portal."""
    client.get("/me/signin")
    away = client.get("/me/signin/portal")
    assert away.status_code == 303
    url = urlsplit(away.headers["location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == IDP_URL.split("?")[0]
    query = parse_qs(url.query)
    assert query["tenant"] == ["fz"] and query["response_mode"] == ["form_post"]
    assert query["client_id"] == [AUDIENCE]
    assert query["redirect_uri"] == ["http://testserver/me/signin/assertion"]
    return query["nonce"][0]


def assertion_for(
    key: ed25519.Ed25519PrivateKey, clock: FakeClock, nonce: str, jti: str, **more: Any
) -> str:
    now = int(clock())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": PERSON, "iat": now, "exp": now + 60}
    return sign(key, {**claims, "jti": jti, "nonce": nonce, **more})


def post_assertion(client: TestClient, token: str) -> Any:
    """The identity provider's cross-site post (no cookie goes with it), then the desk page's
    own post of what it carried on."""
    provider = TestClient(client.app, follow_redirects=False)  # SameSite=Strict: no cookie
    relay = provider.post("/me/signin/assertion", data={"assertion": token})
    assert relay.status_code == 200 and 'id="continue"' in relay.text
    assert 'action="/me/signin/complete"' in relay.text
    assert "/static/js/holder_continue.js" in relay.text
    assert "set-cookie" not in relay.headers  # nothing is started by the cross-site post
    carried = re.search(r'name="assertion" value="([^"]+)"', relay.text)
    assert carried is not None and carried.group(1) == token
    return client.post("/me/signin/complete", data={"assertion": carried.group(1)})


def test_the_portal_assertion_signs_in(idp_settings, idp_key, clock, holder_backend):
    with make_client(idp_settings, clock, holder_backend) as client:
        assert 'id="portal-signin"' in client.get("/me/signin").text
        token = assertion_for(idp_key, clock, portal_nonce(client), "assertion-0001")
        done = post_assertion(client, token)
        assert done.status_code == 303 and done.headers["location"] == "/me"
        assert client.get("/me").status_code == 200
        nonce = portal_nonce(client)  # a signed-in browser starting again: a new session
        assert post_assertion(client, token).status_code == 401  # single use
        forged = sign(
            ed25519.Ed25519PrivateKey.generate(),
            {"iss": ISSUER, "aud": AUDIENCE, "sub": PERSON, "jti": "assertion-2", "nonce": nonce},
        )
        assert post_assertion(client, forged).status_code == 401


def test_an_organisations_representative_signs_in_at_the_portal(
    idp_settings, idp_key, clock, holder_backend
) -> None:
    with make_client(idp_settings, clock, holder_backend) as client:
        alone = assertion_for(idp_key, clock, portal_nonce(client), "org-0001", sub=ORGANISATION)
        assert post_assertion(client, alone).status_code == 401  # no person acting for it
        acting = {"sub": ORGANISATION, "act": {"sub": PERSON}}
        token = assertion_for(idp_key, clock, portal_nonce(client), "org-0002", **acting)
        assert post_assertion(client, token).status_code == 303
        assert client.get("/me").status_code == 200
        assert holder_backend.portal.asked[0][1]["holder_number"] == ORGANISATION


def test_an_assertion_made_for_another_browser_signs_no_one_in(
    idp_settings, idp_key, clock, holder_backend, caplog
) -> None:
    """Login CSRF: the attacker's own fresh assertion, posted from the victim's browser."""
    caplog.set_level(logging.WARNING, logger="yihao.web.holder")
    with (
        make_client(idp_settings, clock, holder_backend) as attacker,
        make_client(idp_settings, clock, holder_backend) as victim,
    ):
        token = assertion_for(idp_key, clock, portal_nonce(attacker), "attacker-0001")
        victim.get("/me/signin")  # the victim has an anonymous session of their own
        refused = post_assertion(victim, token)
        assert refused.status_code == 401 and 'id="refusal"' in refused.text
        assert victim.get("/me").status_code == 303  # still not signed in
        assert '"reason": "NONCE"' in caplog.text
        fresh = make_client(idp_settings, clock, holder_backend)
        with fresh:  # a browser with no session at all
            assert post_assertion(fresh, token).status_code == 401
        assert '"reason": "NO_SESSION"' in caplog.text
        assert post_assertion(attacker, token).status_code == 303  # its own browser: fine


def test_behind_a_tls_proxy_the_provider_posts_back_over_https(idp_settings, clock, holder_backend):
    settings = idp_settings.with_overrides(secure_cookies=True)
    with make_client(settings, clock, holder_backend) as client:
        client.get("/me/signin")
        away = client.get("/me/signin/portal")
        query = parse_qs(urlsplit(away.headers["location"]).query)
        assert query["redirect_uri"] == ["https://testserver/me/signin/assertion"]


def test_without_a_provider_there_is_no_portal_sign_in(web_settings, clock, holder_backend):
    with make_client(web_settings, clock, holder_backend) as client:
        page = client.get("/me/signin").text
        assert 'id="no-portal"' in page and 'id="portal-signin"' not in page
        assert client.get("/me/signin/portal").status_code == 404
        relay = client.post("/me/signin/assertion", data={"assertion": "a.b.c"})
        assert relay.status_code == 401
        assert client.post("/me/signin/complete", data={"assertion": "a.b.c"}).status_code == 404
