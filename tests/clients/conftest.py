"""Fakes for the client tests: a scripted LicenceStore + Diagnostics servicer on a real gRPC
server bound to port 0, insecure (library tests) or mutual TLS with a throwaway dev PKI
(connection and command-line tests)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from clients.cli import main
from services.common.errors import YihaoError
from services.common.grpc_errors import to_status
from services.common.pki import init_dev_pki
from services.licence_store.demo import ALIASES, BUSINESS_LICENCE
from testsupport.stack import Stack
from yihao.v1 import common_pb2, common_pb2_grpc, licence_store_pb2_grpc
from yihao.v1 import licence_store_pb2 as pb

TYPE_CODE = BUSINESS_LICENCE.type_code
MARKET = ALIASES["market"]
HOLDER = "91350100M000100Y43"


def make_licence(number: str = "FZ-0001", **changes: Any) -> pb.Licence:
    """A realistic business licence as the store would answer it."""
    licence = pb.Licence(
        licence_id=f"1.2.156.3005.2.{TYPE_CODE}.{MARKET}.ABC.001.X",
        type_code=TYPE_CODE,
        type_name="营业执照",
        licence_number=number,
        issuer_code=MARKET,
        issuer_name="福州市市场监督管理局",
        holder=common_pb2.Holder(
            kind=common_pb2.HOLDER_KIND_ORGANISATION, number=HOLDER, name="福州示例科技有限公司"
        ),
        fields={"legal_representative": "王芳", "registered_capital": "500"},
        valid_from="2024-01-01",
        version=1,
        status=common_pb2.LICENCE_STATUS_ACTIVE,
        effective_status=common_pb2.EFFECTIVE_STATUS_VALID,
        issued_at=timestamp_pb2.Timestamp(seconds=1_704_067_200),
    )
    for name, value in changes.items():
        setattr(licence, name, value)
    return licence


def make_type() -> pb.LicenceType:
    return pb.LicenceType(
        type_code=TYPE_CODE,
        name="营业执照",
        holder_kind=common_pb2.HOLDER_KIND_ORGANISATION,
        fields=[
            pb.FieldSpec(
                name="legal_representative",
                label="法定代表人",
                type=pb.FIELD_TYPE_STRING,
                required=True,
            ),
            pb.FieldSpec(
                name="registered_capital",
                label="注册资本（万元）",
                type=pb.FIELD_TYPE_DECIMAL,
                required=True,
            ),
        ],
        issuer_codes=[MARKET],
        definer_code="11100000000013338W",
    )


@dataclass
class Script:
    """What the fake server will do: failures queued per method, and what it saw."""

    failures: dict[str, list[YihaoError | grpc.StatusCode]] = field(default_factory=dict)
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, method: str, *errors: YihaoError | grpc.StatusCode) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def seen(self, method: str) -> list[Any]:
        return [request for name, request, _ in self.calls if name == method]

    def enter(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        """Record the call; abort it if a failure is queued for ``method``."""
        with self.lock:
            self.calls.append((method, request, context.time_remaining()))
            queued = self.failures.get(method) or []
            failure = queued.pop(0) if queued else None
        if isinstance(failure, YihaoError):
            context.abort_with_status(to_status(failure))
        elif failure is not None:
            context.abort(failure, f"scripted {failure.name}")


class FakeStore(licence_store_pb2_grpc.LicenceStoreServicer):
    """Canned answers; every call recorded in ``script``."""

    def __init__(self, script: Script) -> None:
        self.script = script

    def _licence(self, name: str, request: Any, context: Any, **changes: Any) -> pb.Licence:
        self.script.enter(name, request, context)
        return make_licence(**changes)

    def IssueLicence(self, request, context):
        return self._licence("IssueLicence", request, context, number=request.licence_number)

    def ChangeLicence(self, request, context):
        return self._licence("ChangeLicence", request, context, version=2)

    def RenewLicence(self, request, context):
        return self._licence("RenewLicence", request, context, valid_until=request.valid_until)

    def SuspendLicence(self, request, context):
        return self._licence(
            "SuspendLicence",
            request,
            context,
            status=common_pb2.LICENCE_STATUS_SUSPENDED,
            effective_status=common_pb2.EFFECTIVE_STATUS_SUSPENDED,
            status_reason_code=request.reason_code,
            status_reason_text=request.reason_text,
        )

    def RevokeLicence(self, request, context):
        return self._licence("RevokeLicence", request, context)

    def GetLicence(self, request, context):
        return self._licence("GetLicence", request, context)

    def GetLicenceHistory(self, request, context):
        self.script.enter("GetLicenceHistory", request, context)
        return pb.LicenceHistory(
            versions=[make_licence(), make_licence(version=2)],
            events=[
                pb.LicenceEvent(
                    cursor=1,
                    kind=pb.EVENT_KIND_ISSUED,
                    version=1,
                    actor_code=MARKET,
                    licence_id="1.2.156.3005.2.x",
                )
            ],
        )

    def ListLicencesByHolder(self, request, context):
        self.script.enter("ListLicencesByHolder", request, context)
        if not request.page_token:
            return pb.ListLicencesResponse(licences=[make_licence("A-1")], next_page_token="p2")
        return pb.ListLicencesResponse(licences=[make_licence("A-2")])

    def GetLicenceType(self, request, context):
        self.script.enter("GetLicenceType", request, context)
        return make_type()

    def ListLicenceTypes(self, request, context):
        self.script.enter("ListLicenceTypes", request, context)
        return pb.ListLicenceTypesResponse(licence_types=[make_type()])

    def RegisterLicenceType(self, request, context):
        self.script.enter("RegisterLicenceType", request, context)
        return request.licence_type

    def RegisterDepartment(self, request, context):
        self.script.enter("RegisterDepartment", request, context)
        return pb.Department(
            credit_code=request.credit_code,
            name=request.name,
            region=request.region,
            roles=request.roles,
        )

    def RotateSigningKey(self, request, context):
        self.script.enter("RotateSigningKey", request, context)
        return pb.Department(credit_code=request.credit_code)

    def ListDepartments(self, request, context):
        self.script.enter("ListDepartments", request, context)
        if not request.page_token:
            return pb.ListDepartmentsResponse(
                departments=[
                    pb.Department(
                        credit_code=MARKET,
                        name="福州市市场监督管理局",
                        region="350100",
                        roles=[common_pb2.ROLE_OPERATOR],
                    )
                ],
                next_page_token="next",
            )
        return pb.ListDepartmentsResponse(
            departments=[
                pb.Department(
                    credit_code="113501009083016632", name="福州市民政局", region="350100"
                )
            ]
        )

    def WatchEvents(self, request, context):
        self.script.enter("WatchEvents", request, context)
        for cursor in range(request.after_cursor + 1, request.after_cursor + 4):
            yield pb.LicenceEvent(
                cursor=cursor,
                kind=pb.EVENT_KIND_CHANGED,
                version=cursor,
                licence_id=f"1.2.156.3005.2.{cursor}",
                actor_code=MARKET,
            )

    def ImportLicences(self, request_iterator, context):
        for request in request_iterator:
            self.script.enter("ImportLicencesRequest", request, context)
            results = []
            for record in request.records:
                self.script.enter("ImportLicences", record, context)
                results.append(self._import_result(record))
            yield pb.ImportLicencesResponse(results=results)

    @staticmethod
    def _import_result(record):
        if record.licence.holder.number.endswith("BAD"):
            return pb.ImportResult(
                line=record.line,
                outcome=pb.IMPORT_OUTCOME_REJECTED,
                reason_code="CHECK_CHARACTER",
                reason="holder.number: check character is wrong",
            )
        return pb.ImportResult(
            line=record.line, outcome=pb.IMPORT_OUTCOME_ACCEPTED, licence_id=f"id-{record.line}"
        )


class FakeDiagnostics(common_pb2_grpc.DiagnosticsServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    def Ping(self, request, context):
        self.script.enter("Ping", request, context)
        return common_pb2.PingResponse(payload=request.payload, caller_code=MARKET)


@contextlib.contextmanager
def running_server(
    script: Script, credentials: grpc.ServerCredentials | None = None
) -> Iterator[str]:
    """A fake server on a free port; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    licence_store_pb2_grpc.add_LicenceStoreServicer_to_server(FakeStore(script), server)
    common_pb2_grpc.add_DiagnosticsServicer_to_server(FakeDiagnostics(script), server)
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def channel(script: Script) -> Iterator[grpc.Channel]:
    """An insecure channel to a fresh fake server."""
    with running_server(script) as address, grpc.insecure_channel(address) as chan:
        yield chan


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A var directory holding a dev PKI with the market and data departments."""
    root = tmp_path_factory.mktemp("var")
    init_dev_pki(root / "pki", [(MARKET, "市场监管"), (ALIASES["data"], "数据管理局")])
    return root


@pytest.fixture
def tls_address(script: Script, var_dir: Path) -> Iterator[str]:
    """A fresh fake server speaking mutual TLS with the dev PKI in ``var_dir``."""
    pki = var_dir / "pki"
    credentials = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.crt").read_bytes())],
        root_certificates=(pki / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    with running_server(script, credentials) as address:
        yield address


@pytest.fixture
def yihao(stack: Stack, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run the CLI against the real ``stack`` as a department: (exit code, stdout, stderr).

    test_cli.py, which talks to the fake server, has its own ``yihao``.
    """
    var_dir = str(stack.pki.directory.parent)

    def run(alias: str, *args: str, json_out: bool = False) -> tuple[int, str, str]:
        argv = ["--address", stack.address, "--var-dir", var_dir, "--as", alias]
        code = main([*argv, *(["--json"] if json_out else []), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
