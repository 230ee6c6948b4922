"""``yihao consent grant|list|check|revoke`` and ``--consent`` on reads, against a real server
(SQLite): the walk-through of docs/holders.md, command by command."""

from __future__ import annotations

import json

import pytest

from services.licence_store import demo

PERSON = "11010519491231002X"
QUALIFICATION = demo.QUALIFICATION_CERTIFICATE.type_code
WHY = ("--purpose", "住房保障资格审核", "--case", "ZJ-2026-0042")


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'yihao.db'}"


def certify(yihao) -> None:
    code, _, err = yihao(
        "hrss",
        "issue",
        "--type",
        QUALIFICATION,
        "--number",
        "RS-2025-000001",
        "--holder",
        PERSON,
        "--holder-name",
        "张三",
        "--field",
        "occupation=电工",
        "--field",
        "level=三级",
        "--field",
        "awarded_on=2025-01-10",
        "--field",
        "awarding_body=福州市职业技能鉴定中心",
    )
    assert code == 0, err


def test_the_consent_walk_through(yihao):
    certify(yihao)
    code, _, err = yihao("housing", "verify-holder", PERSON, "--type", QUALIFICATION, *WHY)
    assert code != 0 and "CONSENT_REQUIRED" in err
    code, out, err = yihao(
        "portal", "consent", "grant", PERSON, "--to", "housing", "--type", QUALIFICATION,
        "--case", "ZJ-2026-0042", "--days", "30",
    )  # fmt: skip
    assert code == 0, err
    grant_id = out.split()[2]
    assert out.startswith(f"授权 consent   {grant_id}  (active 有效)")
    assert "holder         110105********002X" in out
    code, out, err = yihao(
        "housing", "verify-holder", PERSON, "--type", QUALIFICATION, *WHY, "--consent", grant_id
    )
    assert code == 0, err
    assert "VALID" in out and "RS-2025-000001" in out
    code, out, _ = yihao("housing", "consent", "list")
    assert grant_id in out
    code, out, _ = yihao("portal", "consent", "list", PERSON)
    assert "USED" in out and "verified by holder number" in out
    code, out, _ = yihao(
        "portal", "consent", "check", grant_id, PERSON, "--department", "hall", "--type",
        QUALIFICATION, "--case", "ZJ-2026-0042",
    )  # fmt: skip
    assert (code, out.strip()) == (3, "refused  CONSENT_WRONG_DEPARTMENT")
    code, out, _ = yihao("portal", "consent", "revoke", grant_id, PERSON)
    assert code == 0 and "(revoked 已撤回)" in out
    code, _, err = yihao(
        "housing", "verify-holder", PERSON, "--type", QUALIFICATION, *WHY, "--consent", grant_id
    )
    assert code != 0 and "CONSENT_REQUIRED" in err
    code, out, _ = yihao("portal", "consent", "list", PERSON, json_out=True)
    uses = [u["outcome"] for u in json.loads(out)["uses"]]
    assert uses == ["CONSENT_REVOKED", "USED"]


def test_a_grant_too_long_names_the_field(yihao):
    code, _, err = yihao(
        "portal", "consent", "grant", PERSON, "--to", "housing", "--type", QUALIFICATION,
        "--case", "ZJ-2026-0042", "--days", "365",
    )  # fmt: skip
    assert code != 0
    assert "valid_days" in err and "at most 90 days" in err


def test_an_organisations_grant_names_the_person_acting_for_it(yihao):
    company, representative = "91350100M000100Y43", "110105195506150029"
    code, out, err = yihao(
        "portal", "consent", "grant", company, "--to", "housing", "--type",
        demo.BUSINESS_LICENCE.type_code, "--case", "KB-2026-0007", "--acting-person",
        representative,
    )  # fmt: skip
    assert code == 0, err
    grant_id = out.split()[2]
    assert "(key " in out and ", acting 110105********0029" in out
    assert representative not in out
    code, out, err = yihao(
        "portal", "consent", "revoke", grant_id, company, "--acting-person", representative
    )
    assert code == 0, err
    (revoked,) = [line for line in out.splitlines() if line.startswith("revoked")]
    assert revoked.endswith(", acting 110105********0029")
    code, _, err = yihao(
        "portal", "consent", "grant", PERSON, "--to", "housing", "--type", QUALIFICATION,
        "--case", "ZJ-2026-0042", "--acting-person", representative,
    )  # fmt: skip
    assert code != 0 and "acting_person" in err and "ACTING_PERSON_NOT_ALLOWED" in err
