"""Signing in: records, lockout and its release, per-address limits, disabled accounts, and
log lines without personal data."""

from __future__ import annotations

import logging

from tests.clients.web.conftest import csrf_of, sign_in


def _events(client, account=None):
    return client.app.state.desk.signins.log.events(account)


def test_a_sign_in_and_a_sign_out_are_recorded(desk_client) -> None:
    assert sign_in(desk_client, "handler").status_code == 303
    token = csrf_of(desk_client.get("/").text)
    desk_client.post("/signout", data={"csrf_token": token})
    assert _events(desk_client) == [("signed_in", "handler"), ("signed_out", "handler")]


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(desk_client) -> None:
    response = sign_in(desk_client, "handler", "not-the-password")
    assert response.status_code == 401
    assert "账号或密码不正确" in response.text
    unknown = sign_in(desk_client, "nobody", "not-the-password")
    assert unknown.status_code == 401 and "账号或密码不正确" in unknown.text
    assert _events(desk_client) == [("failed", "handler"), ("failed", "nobody")]


def test_empty_fields_are_named_next_to_the_field(desk_client) -> None:
    token = csrf_of(desk_client.get("/signin").text)
    response = desk_client.post("/signin", data={"csrf_token": token, "account": " "})
    assert response.status_code == 400
    assert 'id="e-account"' in response.text and 'id="e-password"' in response.text
    assert "请输入账号" in response.text and "请输入密码" in response.text
    assert _events(desk_client) == []


def test_an_account_locks_after_n_failures_and_is_released_after_m_minutes(
    desk_client, clock
) -> None:
    for _ in range(2):
        assert sign_in(desk_client, "handler", "wrong-password").status_code == 401
    locked = sign_in(desk_client, "handler", "wrong-password")
    assert locked.status_code == 429 and "已暂时锁定" in locked.text and "5 分钟" in locked.text
    assert sign_in(desk_client, "handler").status_code == 429  # right password, still locked
    clock.advance(299)
    assert sign_in(desk_client, "handler").status_code == 429
    clock.advance(2)
    assert sign_in(desk_client, "handler").status_code == 303
    kinds = [kind for kind, _ in _events(desk_client, "handler")]
    assert kinds == ["failed"] * 3 + ["locked", "refused_locked", "refused_locked", "signed_in"]


def test_failures_before_a_release_do_not_count_again(desk_client, clock) -> None:
    for _ in range(3):
        sign_in(desk_client, "handler", "wrong-password")
    clock.advance(301)
    assert sign_in(desk_client, "handler", "wrong-password").status_code == 401  # 1 of 3


def test_a_success_resets_the_count(desk_client) -> None:
    for _ in range(2):
        sign_in(desk_client, "handler", "wrong-password")
    assert sign_in(desk_client, "handler").status_code == 303
    desk_client.cookies.clear()
    for _ in range(2):
        assert sign_in(desk_client, "handler", "wrong-password").status_code == 401


def test_an_administrator_can_unlock(desk_client) -> None:
    for _ in range(3):
        sign_in(desk_client, "handler", "wrong-password")
    desk_client.app.state.desk.signins.unlock("handler")
    assert sign_in(desk_client, "handler").status_code == 303


def test_unknown_accounts_lock_like_real_ones(desk_client) -> None:
    for _ in range(3):
        sign_in(desk_client, "nobody", "wrong-password")
    assert sign_in(desk_client, "nobody", "wrong-password").status_code == 429


def test_one_address_is_limited_across_accounts(desk_client) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"):
        assert sign_in(desk_client, name, "wrong-password").status_code == 401
    response = sign_in(desk_client, "handler")
    assert response.status_code == 429 and "此地址" in response.text
    assert _events(desk_client, "handler") == [("refused_address", "handler")]


def test_a_disabled_account_is_refused_and_recorded(desk_client) -> None:
    response = sign_in(desk_client, "gone")
    assert response.status_code == 401 and "账号或密码不正确" in response.text
    assert _events(desk_client, "gone") == [("refused_disabled", "gone")]


def test_log_lines_carry_no_account_id_and_no_address(desk_client, caplog) -> None:
    caplog.set_level(logging.INFO, logger="yihao.web")
    sign_in(desk_client, "handler", "wrong-password")
    sign_in(desk_client, "handler")
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("yihao.web")]
    assert any('"event": "web.failed"' in line for line in lines)
    assert any('"event": "web.signed_in"' in line for line in lines)
    for line in lines:
        assert "handler" not in line and "testclient" not in line


def test_the_password_is_stored_as_argon2id(desk_client) -> None:
    engine = desk_client.app.state.desk.engine
    with engine.connect() as conn:
        digests = [r[0] for r in conn.exec_driver_sql("SELECT password_hash FROM web_accounts")]
    assert digests and all(d.startswith("$argon2id$") for d in digests)
