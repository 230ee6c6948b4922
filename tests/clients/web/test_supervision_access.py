"""Access records of a holder in the supervision room (fake services): the number is posted,
never in a URL; purpose and case are required, each error naming its field; the service's
violations are shown beside their field; the next page is a POST too."""

from __future__ import annotations

import pytest

from tests.clients.web.conftest import csrf_of, sign_in
from tests.clients.web.fake_supervision import HOLDER


@pytest.fixture
def supervisor(desk_client):
    sign_in(desk_client, "supervisor")
    return desk_client


@pytest.fixture
def fake(backend):
    return backend.more[0]


def _form(client, **fields: str) -> dict[str, str]:
    page = client.get("/supervision/access").text
    form = page.split('id="access-form"')[1]
    return {"csrf_token": csrf_of(form), **fields}


def test_records_of_a_holder_with_purpose_case_and_staff(supervisor, fake) -> None:
    form = _form(supervisor, holder_number=HOLDER, purpose="投诉核查", case_number="JC-2026-001")
    answer = supervisor.post("/supervision/access", data=form)
    assert answer.status_code == 200
    table = answer.text.split('id="access-records"')[1].split("</table>")[0]
    for text in ("福州市人社局", "wang.fang", "行政协助", "职业资格审查", "RS-2026-007"):
        assert text in table
    assert f'id="access-holder">{HOLDER}<' in answer.text  # typed: shown whole
    assert fake.access_asked == [
        {
            "holder_number": HOLDER,
            "purpose": "投诉核查",
            "case_number": "JC-2026-001",
            "page_size": 50,
            "page_token": "",
        }
    ]
    assert 'name="page_token" value="next-page"' in answer.text  # the next page: a POST
    assert HOLDER not in str(answer.url)


def test_every_missing_field_is_named(supervisor, fake) -> None:
    answer = supervisor.post("/supervision/access", data=_form(supervisor, holder_number=""))
    assert answer.status_code == 400
    for name in ("holder_number", "purpose", "case_number"):
        assert f'id="e-{name}"' in answer.text
    assert "必填" in answer.text and fake.access_asked == []


def test_a_violation_the_service_names_is_shown_beside_its_field(supervisor) -> None:
    form = _form(supervisor, holder_number="32-01", purpose="投诉核查", case_number="JC-1")
    answer = supervisor.post("/supervision/access", data=form)
    assert answer.status_code == 400
    error = answer.text.split('id="e-holder_number"')[1].split("</p>")[0]
    assert "holder_number: is not an ID number (FORMAT)" in error


def test_only_a_supervisor_may_ask(desk_client, fake) -> None:
    sign_in(desk_client, "handler")
    token = csrf_of(desk_client.get("/").text)
    form = {"csrf_token": token, "holder_number": HOLDER, "purpose": "x", "case_number": "y"}
    assert desk_client.post("/supervision/access", data=form).status_code == 403
    assert desk_client.get("/supervision/access").status_code == 403
    assert fake.access_asked == []
