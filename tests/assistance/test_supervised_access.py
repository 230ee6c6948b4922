"""A supervisor (电子监察) reads who used a holder's data: only with a purpose and a case, and
its own read is recorded for the holder first (channel "supervision", staff where named)."""

from __future__ import annotations

import grpc
import pytest

from clients.cli import main
from services.licence_store import demo
from testsupport.stack import Stack
from yihao.v1 import assistance_pb2 as apb
from yihao_shared.staff import STAFF_METADATA

GRADUATE = "320106198707105231"


def _records(stack: Stack, alias: str, **fields: str) -> list[apb.AccessRecord]:
    request = apb.ListAccessRecordsRequest(holder_number=GRADUATE, **fields)
    return list(stack.assistance(alias).ListAccessRecords(request).records)


def _ask(stack: Stack) -> None:
    stack.assistance("hrss").SubmitRequest(
        apb.SubmitRequestRequest(
            idempotency_key="sv-access-0001",
            item_code="XZXZ-JY-001",
            holder_number=GRADUATE,
            purpose="职业资格审查",
            legal_basis="《中华人民共和国职业教育法》",
            case_number="RS-2026-007",
        )
    )


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({}, {"purpose", "case_number"}),
        ({"purpose": "投诉核查"}, {"case_number"}),
        ({"case_number": "JC-2026-001"}, {"purpose"}),
    ],
)
def test_a_supervisor_must_say_why_and_for_which_case(stack: Stack, fields, missing) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _records(stack, "supervision", **fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for name in missing:
        assert name in caught.value.details()
    assert _records(stack, "portal") == []  # nothing was recorded


def test_a_supervisors_read_is_recorded_for_the_holder_first(stack: Stack) -> None:
    _ask(stack)
    call = stack.assistance("supervision").ListAccessRecords
    reply = call(
        apb.ListAccessRecordsRequest(
            holder_number=GRADUATE, purpose="投诉核查", case_number="JC-2026-001"
        ),
        metadata=[(STAFF_METADATA, "li.si")],
    )
    own = reply.records[0]  # newest first: the supervisor's own read
    assert (own.department_code, own.channel, own.purpose, own.case_number, own.staff) == (
        demo.ALIASES["supervision"],
        "supervision",
        "投诉核查",
        "JC-2026-001",
        "li.si",
    )
    seen_by_holder = _records(stack, "portal")
    assert [r.channel for r in seen_by_holder] == [r.channel for r in reply.records]
    assert seen_by_holder[0].purpose == "投诉核查"


def test_the_holder_portal_needs_no_purpose_and_leaves_no_record(stack: Stack) -> None:
    _records(stack, "supervision", purpose="投诉核查", case_number="JC-2026-001")
    first = _records(stack, "portal")
    assert [r.channel for r in first] == ["supervision"]
    assert _records(stack, "portal") == first  # the holder reading their own: not recorded


def test_other_departments_still_may_not_read_access_records(stack: Stack) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _records(stack, "police", purpose="投诉核查", case_number="JC-2026-001")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_command_line_asks_as_a_supervisor(stack: Stack, capsys) -> None:
    var_dir = str(stack.pki.directory.parent)
    argv = ["--address", stack.address, "--var-dir", var_dir, "--as", "supervision", "access"]
    assert main([*argv, GRADUATE]) != 0  # no purpose, no case
    assert "purpose" in capsys.readouterr().err
    assert main([*argv, GRADUATE, "--purpose", "投诉核查", "--case", "JC-2026-001"]) == 0
    out = capsys.readouterr().out
    assert "supervision 电子监察" in out and "JC-2026-001" in out
