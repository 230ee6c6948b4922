"""``yihao web users ...`` through the real command line."""

from __future__ import annotations

import json

import pytest

from clients.cli import main


@pytest.fixture
def run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("YIHAO_WEB_DEV", raising=False)
    monkeypatch.delenv("YIHAO_WEB_DATABASE_URL", raising=False)

    def call(*args: str) -> tuple[int, str, str]:
        code = main(["--var-dir", str(tmp_path), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


def test_add_list_disable_enable(run, tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("a-long-password\n")
    code, out, _ = run(
        "web",
        "users",
        "add",
        "li.si",
        "--name",
        "李四",
        "--department",
        "police",
        "--role",
        "handler",
        "--role",
        "supervisor",
        "--password-file",
        str(secret),
    )
    assert code == 0 and "li.si" in out and "11350100131860916B" in out
    code, out, _ = run("--json", "web", "users", "list")
    listed = [json.loads(line) for line in out.splitlines()]
    assert listed == [
        {
            "account_id": "li.si",
            "display_name": "李四",
            "department": "11350100131860916B",
            "roles": ["handler", "supervisor"],
            "disabled": False,
        }
    ]
    assert run("web", "users", "disable", "li.si")[1].rstrip().endswith("disabled 停用")
    assert run("web", "users", "enable", "li.si")[1].rstrip().endswith("active 启用")
    assert (tmp_path / "web.db").is_file()


def test_the_password_may_come_on_standard_input(run, monkeypatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin-password\n"))
    code, _, _ = run(
        "web", "users", "add", "a", "--name", "A", "--department", "hall", "--role", "handler"
    )
    assert code == 0


def test_a_bad_account_is_refused_with_each_field_named(run, tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("short\n")
    code, _, err = run(
        "web",
        "users",
        "add",
        "X Y",
        "--name",
        "x",
        "--department",
        "nowhere",
        "--role",
        "handler",
        "--password-file",
        str(secret),
    )
    assert code == 1
    assert "- account:" in err and "- department:" in err and "- password:" in err


def test_disabling_an_unknown_account_is_not_found(run) -> None:
    code, _, err = run("web", "users", "disable", "nobody")
    assert code == 1 and "NOT_FOUND" in err


def test_demo_accounts_need_the_development_flag(run, monkeypatch) -> None:
    code, _, err = run("web", "users", "demo")
    assert code == 2 and "YIHAO_WEB_DEV=1" in err
    monkeypatch.setenv("YIHAO_WEB_DEV", "1")
    code, _, err = run("web", "users", "demo")
    assert code == 0 and "handler" in err and "handler-demo" in err
    assert run("web", "users", "demo", "--quiet")[0] == 0  # again: nothing new, no error
    listed = run("web", "users", "list")[1]
    assert [line.split()[0] for line in listed.splitlines()] == [
        "admin",
        "handler",
        "operator",
        "supervisor",
    ]


def test_a_bad_listen_address_is_refused(run) -> None:
    code, _, err = run("web", "serve", "--listen", "nowhere")
    assert code == 2 and "--listen" in err
