"""The yihao command line, end to end over mutual TLS against the scripted fake server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from clients import bulk, commands
from clients.cli import build_parser, main
from services.common.errors import InvalidArgument, NotFound
from services.licence_store.demo import ALIASES, BUSINESS_LICENCE
from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb

T = BUSINESS_LICENCE.type_code
MARKET = ALIASES["market"]
REF = f"{T}:FZ-0001"


@pytest.fixture
def yihao(tls_address, var_dir, capsys):
    """Run ``yihao --address ... --var-dir ... --as market ARGS``; (exit code, out, err)."""

    def run(*args: str, as_: str = "market") -> tuple[int, str, str]:
        code = main(["--address", tls_address, "--var-dir", str(var_dir), "--as", as_, *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


# --- parsing ----------------------------------------------------------------------------------


def test_global_options_and_repeatable_filters() -> None:
    args = build_parser().parse_args(
        [
            "--json",
            "--as",
            "civil",
            "--timeout",
            "2.5",
            "list",
            "110101199003074514",
            "--type",
            "A",
            "--type",
            "B",
            "--status",
            "active",
            "--status",
            "suspended",
            "--all-pages",
        ]
    )
    assert (args.json, args.as_, args.timeout, args.command) == (True, "civil", 2.5, "list")
    assert (args.type, args.status, args.all_pages) == (["A", "B"], ["active", "suspended"], True)


def test_as_defaults_to_env_then_data(monkeypatch) -> None:
    monkeypatch.delenv("YIHAO_AS", raising=False)
    assert build_parser().parse_args(["ping"]).as_ == "data"
    monkeypatch.setenv("YIHAO_AS", "hall")
    assert build_parser().parse_args(["ping"]).as_ == "hall"


def test_serve_options() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--service",
            "licence_store",
            "--service",
            "verifier",
            "--workers",
            "2",
            "--listen",
            "0.0.0.0:6000",
        ]
    )
    assert (args.service, args.workers, args.listen) == (
        ["licence_store", "verifier"],
        2,
        "0.0.0.0:6000",
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["get", "not-a-ref"],
        [
            "issue",
            "--type",
            T,
            "--number",
            "1",
            "--holder",
            "X",
            "--holder-name",
            "甲",
            "--valid-from",
            "2024-02-30",
        ],
        [
            "issue",
            "--type",
            T,
            "--number",
            "1",
            "--holder",
            "X",
            "--holder-name",
            "甲",
            "--field",
            "no-equals-sign",
        ],
        ["suspend", REF],
        [
            "departments",
            "register",
            "--code",
            "X",
            "--name",
            "n",
            "--region",
            "350100",
            "--role",
            "emperor",
        ],
        ["serve", "--service", "nonsense"],
        ["--timeout", "0", "ping"],
        ["pki"],
    ],
)
def test_usage_errors_exit_2(argv, capsys) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys) -> None:
    assert main(["types", "register", "--help"]) == 0
    assert '"holder_kind": "organisation"' in capsys.readouterr().out


# --- licences ---------------------------------------------------------------------------------


def test_get_shows_a_card_a_clerk_can_read(yihao, script) -> None:
    code, out, _ = yihao("get", REF, "--version", "2")
    assert code == 0
    request = script.seen("GetLicence")[0]
    assert (request.licence.type_and_number.licence_number, request.version) == ("FZ-0001", 2)
    for text in (
        "1.2.156.3005.2.",
        "营业执照 (" + T + ")",
        "FZ-0001",
        "福州示例科技有限公司",
        "91350100M000100Y43",
        f"福州市市场监督管理局 ({MARKET})",
        "2024-01-01 → no expiry",
        "valid 有效",
        "法定代表人 legal_representative",
    ):
        assert text in out, text
    assert out.index("法定代表人") < out.index("注册资本")  # in the type's field order


def test_get_json_is_proto_json_with_proto_field_names(yihao, script) -> None:
    code, out, _ = yihao("--json", "get", REF)
    assert code == 0
    data = json.loads(out)
    assert data["licence_number"] == "FZ-0001"
    assert data["holder"]["name"] == "福州示例科技有限公司"
    assert data["effective_status"] == "EFFECTIVE_STATUS_VALID"
    assert script.seen("GetLicenceType") == []  # no label lookup for machines


def test_issue_sends_what_was_typed(yihao, script) -> None:
    code, out, _ = yihao(
        "issue",
        "--type",
        T,
        "--number",
        "350100-2026-0001",
        "--holder",
        "91350100M000100Y43",
        "--holder-name",
        "福州示例科技有限公司",
        "--holder-kind",
        "organisation",
        "--field",
        "legal_representative=王芳",
        "--field",
        "address=福州市鼓楼区=示例路1号",
        "--valid-from",
        "2026-01-01",
        "--valid-until",
        "2036-12-31",
        "--key",
        "erp-42-0001",
    )
    assert code == 0
    (request,) = script.seen("IssueLicence")
    assert request.idempotency_key == "erp-42-0001"
    assert request.holder == common_pb2.Holder(
        kind=common_pb2.HOLDER_KIND_ORGANISATION,
        number="91350100M000100Y43",
        name="福州示例科技有限公司",
    )
    assert dict(request.fields) == {
        "legal_representative": "王芳",
        "address": "福州市鼓楼区=示例路1号",
    }
    assert (request.valid_from, request.valid_until) == ("2026-01-01", "2036-12-31")
    assert "350100-2026-0001" in out


def test_change_renew_and_status_changes(yihao, script) -> None:
    assert (
        yihao(
            "change",
            REF,
            "--field",
            "address=新地址",
            "--field",
            "operating_until=",
            "--holder-name",
            "新名称",
            "--reason",
            "迁址",
        )[0]
        == 0
    )
    change = script.seen("ChangeLicence")[0]
    assert dict(change.fields) == {"address": "新地址", "operating_until": ""}
    assert (change.holder_name, change.reason) == ("新名称", "迁址")
    assert yihao("renew", REF, "--until", "2040-01-01")[0] == 0
    assert script.seen("RenewLicence")[0].valid_until == "2040-01-01"
    code, out, _ = yihao("suspend", REF, "--reason", "COURT_ORDER", "--text", "法院裁定")
    assert code == 0
    suspend = script.seen("SuspendLicence")[0]
    assert (suspend.reason_code, suspend.reason_text) == ("COURT_ORDER", "法院裁定")
    assert suspend.idempotency_key
    assert "suspended 暂扣" in out and "COURT_ORDER — 法院裁定" in out
    oid = "1.2.156.3005.2.11100000000013338W011.1135010052601815X2.ABC.001.X"
    assert yihao("revoke", oid, "--reason", "FRAUD")[0] == 0
    assert script.seen("RevokeLicence")[0].licence.licence_id == oid


def test_list_first_page_or_all_pages(yihao, script) -> None:
    code, out, err = yihao("list", "91350100M000100Y43", "--status", "suspended")
    assert code == 0
    assert "A-1" in out and "A-2" not in out and "--all-pages" in err
    assert script.seen("ListLicencesByHolder")[0].statuses == [common_pb2.LICENCE_STATUS_SUSPENDED]
    code, out, _ = yihao("list", "91350100M000100Y43", "--all-pages")
    assert out.splitlines()[0].split() == [
        "TYPE",
        "NUMBER",
        "STATUS",
        "VALID",
        "ISSUER",
        "VER",
        "E-LICENCE",
    ]
    assert "A-1" in out and "A-2" in out


def test_history_and_watch(yihao, script) -> None:
    code, out, _ = yihao("history", REF)
    assert code == 0 and "versions 版本" in out and "issued" in out
    code, out, _ = yihao("watch", "--after", "5", "--type", T)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["6", "7", "8"]
    assert script.seen("WatchEvents")[0] == pb.WatchEventsRequest(after_cursor=5, type_codes=[T])


# --- catalogue --------------------------------------------------------------------------------


def test_ping_and_departments(yihao, script) -> None:
    code, out, _ = yihao("ping")
    assert code == 0 and MARKET in out
    code, out, _ = yihao("departments", "list")
    assert "福州市市场监督管理局" in out and "福州市民政局" in out  # both pages
    code, out, _ = yihao(
        "departments",
        "register",
        "--code",
        "civil",
        "--name",
        "福州市民政局",
        "--region",
        "350100",
        "--role",
        "operator",
        "provider",
    )
    request = script.seen("RegisterDepartment")[0]
    assert request.credit_code == ALIASES["civil"]
    assert list(request.roles) == [common_pb2.ROLE_OPERATOR, common_pb2.ROLE_PROVIDER]
    assert yihao("departments", "rotate-key", "market")[0] == 0
    assert script.seen("RotateSigningKey")[0].credit_code == MARKET


def test_types_register_from_json(yihao, script, tmp_path: Path) -> None:
    path = tmp_path / "type.json"
    path.write_text(
        json.dumps(
            {
                "type_code": f"{T[:-3]}099",
                "name": "食品经营许可证",
                "holder_kind": "organisation",
                "default_validity_days": 1825,
                "issuer_codes": ["market"],
                "fields": [
                    {"name": "scope", "label": "经营项目", "type": "string", "required": True},
                    {"name": "expires", "label": "有效期至", "type": "FIELD_TYPE_DATE"},
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    code, out, _ = yihao("types", "register", str(path))
    assert code == 0, out
    registered = script.seen("RegisterLicenceType")[0].licence_type
    assert registered.holder_kind == common_pb2.HOLDER_KIND_ORGANISATION
    assert list(registered.issuer_codes) == [MARKET]
    assert [f.type for f in registered.fields] == [pb.FIELD_TYPE_STRING, pb.FIELD_TYPE_DATE]
    assert "食品经营许可证" in out and "经营项目" in out
    path.write_text('{"name": "x", "colour": "red"}', encoding="utf-8")
    code, _, err = yihao("types", "register", str(path))
    assert code == 2 and "colour" in err


def test_types_list_and_show(yihao) -> None:
    code, out, _ = yihao("types", "list", "--issuer", "market")
    assert code == 0 and "营业执照" in out
    code, out, _ = yihao("types", "show", T)
    assert "注册资本（万元）" in out and "decimal" in out


# --- errors -----------------------------------------------------------------------------------


def test_refusal_prints_status_reason_and_violations(yihao, script) -> None:
    script.fail(
        "IssueLicence",
        InvalidArgument.field(
            "holder.number", "check character is '4', expected '3'", "CHECK_CHARACTER"
        ),
    )
    code, out, err = yihao(
        "issue", "--type", T, "--number", "1", "--holder", "X", "--holder-name", "甲"
    )
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "error: INVALID_ARGUMENT CHECK_CHARACTER: invalid holder.number",
        "  - holder.number: check character is '4', expected '3'",
    ]
    script.fail("GetLicence", NotFound("no licence FZ-0001 of this type", reason="NO_LICENCE"))
    code, _, err = yihao("get", REF)
    assert (code, err) == (1, "error: NOT_FOUND NO_LICENCE: no licence FZ-0001 of this type\n")
    assert "Traceback" not in err


def test_no_server_exits_2_with_a_hint(var_dir, capsys) -> None:
    code = main(["--address", "127.0.0.1:1", "--var-dir", str(var_dir), "--as", "market", "ping"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: UNAVAILABLE ")
    assert "start it with `make run`" in err


def test_missing_pki_exits_2_naming_the_remedy(tmp_path, capsys) -> None:
    assert main(["--var-dir", str(tmp_path), "get", REF]) == 2
    err = capsys.readouterr().err
    assert "FAILED_PRECONDITION TLS_FILE_MISSING" in err and "yihao pki init" in err


def test_unexpected_failure_is_one_line_not_a_traceback(monkeypatch, capsys) -> None:
    def broken(ctx):
        raise RuntimeError("wires crossed")

    monkeypatch.setattr(commands, "cmd_ping", broken)
    monkeypatch.delenv("YIHAO_DEBUG", raising=False)
    assert main(["ping"]) == 1
    assert capsys.readouterr().err == (
        "error: unexpected RuntimeError: wires crossed (YIHAO_DEBUG=1 shows details)\n"
    )


# --- import -----------------------------------------------------------------------------------

CSV = (
    "type_code,licence_number,holder_number,holder_name,field.legal_representative\n"
    f"{T},FZ-1,91350100M000100Y43,福州甲公司,王芳\n"
    f"{T},FZ-2,91350100M000100BAD,福州乙公司,李四\n"
    f"{T},,91350100M000100Y43,福州丙公司,张三\n"
    f"{T},FZ-4,91350100M000100Y43,福州丁公司,赵六\n"
)


def test_import_reports_every_rejection_by_line(yihao, script, tmp_path) -> None:
    path = tmp_path / "licences.csv"
    path.write_text(CSV, encoding="utf-8")
    code, out, _ = yihao("import", str(path), "--batch", "2")
    assert code == 1
    assert out.splitlines() == [
        "2 accepted, 0 duplicate, 2 rejected (1 by the server, 1 locally)",
        "  line 3: CHECK_CHARACTER holder.number: check character is wrong",
        "  line 4: INVALID_RECORD licence_number missing",
    ]
    sent = script.seen("ImportLicences")
    assert [r.line for r in sent] == [2, 3, 5]
    assert sent[0].licence.idempotency_key == f"import:{T}:FZ-1"


def test_import_all_good_exits_0_and_json_prints_each_result(yihao, tmp_path) -> None:
    path = tmp_path / "licences.jsonl"
    path.write_text(
        json.dumps({"type_code": T, "licence_number": "1", "fields": {"a": 1}}) + "\n",
        encoding="utf-8",
    )
    code, out, _ = yihao("import", str(path))
    assert code == 0 and out.startswith("1 accepted, 0 duplicate, 0 rejected")
    code, out, err = yihao("--json", "import", str(path))
    assert code == 0
    assert json.loads(out) == {
        "line": "1",
        "outcome": "IMPORT_OUTCOME_ACCEPTED",
        "licence_id": "id-1",
    }
    assert "1 accepted" in err


def test_import_bad_header_exits_2_before_connecting(tmp_path, capsys) -> None:
    path = tmp_path / "x.csv"
    path.write_text("type_code,colour\n", encoding="utf-8")
    assert main(["--address", "127.0.0.1:1", "import", str(path)]) == 2
    assert "unknown column 'colour'" in capsys.readouterr().err


def test_progress_line_every_n_records_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = bulk.Progress(stream, every=2)
    tally = bulk.Tally()
    for outcome in (
        pb.IMPORT_OUTCOME_ACCEPTED,
        pb.IMPORT_OUTCOME_DUPLICATE,
        pb.IMPORT_OUTCOME_ACCEPTED,
        pb.IMPORT_OUTCOME_REJECTED,
        pb.IMPORT_OUTCOME_ACCEPTED,
    ):
        tally.count(pb.ImportResult(line=1, outcome=outcome))
        progress.update(tally)
    lines = stream.getvalue().splitlines()
    assert [line.split(" records")[0] for line in lines] == ["2", "4"]
    assert "2 accepted, 1 duplicate, 1 rejected" in lines[1]


def test_batches_cut_a_stream_lazily() -> None:
    source = iter(range(7))
    runs = bulk.batches(source, 3)  # type: ignore[arg-type]
    assert [list(run) for run in runs] == [[0, 1, 2], [3, 4, 5], [6]]
