"""A copy of the database alone reveals no citizen ID number: holder numbers are a blind
index plus a sealed value, sensitive licence fields are sealed, fingerprints are keyed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.licence_store import demo
from testsupport.atrest import clear_hits, tables_scanned
from testsupport.processes import PostgresServer
from testsupport.serverproc import server_process
from testsupport.why import WHY
from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import assistance_pb2_grpc as agrpc
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

PEOPLE = ["11010519491231002X", "360426199101010071", "320106198707105231", "51010719990228004X"]
#: Values of fields the demo licence types mark sensitive, each unmistakable in a dump.
SPOUSE_NAMES = [f"配偶甲{i}乙" for i in range(len(PEOPLE))]
DOMICILES = [f"户籍地丙{i}丁" for i in range(len(PEOPLE))]
ADDRESSES = [f"居住地戊{i}己" for i in range(len(PEOPLE))]
SENSITIVE = [*SPOUSE_NAMES, *DOMICILES, *ADDRESSES]


def _use_every_path(server) -> None:
    civil, police = server.store("civil"), server.store("police")
    hall = vgrpc.VerifierStub(server.channel("hall"))
    for i, (person, spouse) in enumerate(zip(PEOPLE, reversed(PEOPLE), strict=True)):
        married = civil.IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key=f"rest-m-{i:04d}",
                type_code=demo.MARRIAGE_CERTIFICATE.type_code,
                licence_number=f"J-{i}",
                holder=common.Holder(number=person, name="张三"),
                fields={
                    "spouse_name": SPOUSE_NAMES[i],  # a sensitive field
                    "spouse_id_number": spouse,  # a sensitive field
                    "registered_on": "2026-05-20",
                    "registration_office": "鼓楼区民政局",
                    "certificate_serial": f"J350102-{i}",
                },
            )
        )
        police.IssueLicence(
            pb.IssueLicenceRequest(
                idempotency_key=f"rest-r-{i:04d}",
                type_code=demo.RESIDENCE_PERMIT.type_code,
                licence_number=f"R-{i}",
                holder=common.Holder(number=person[:6] + person[8:17], name="张三"),  # legacy form
                fields={
                    "sex": "男",
                    "domicile": DOMICILES[i],  # sensitive
                    "residence_address": ADDRESSES[i],  # sensitive
                    "issuing_office": "台江分局",
                },
            )
        )
        hall.VerifyLicence(
            vpb.VerifyLicenceRequest(
                **WHY,
                licence=pb.LicenceRef(licence_id=married.licence_id),
                presented_holder_number=person,
            )
        )
        hall.VerifyByHolder(vpb.VerifyByHolderRequest(**WHY, holder_number=person))
        civil.ChangeLicence(
            pb.ChangeLicenceRequest(
                licence=pb.LicenceRef(licence_id=married.licence_id),
                fields={"registration_office": "仓山区民政局"},
            )
        )
        agrpc.AssistanceStub(server.channel("police")).SubmitRequest(
            apb.SubmitRequestRequest(
                case_number="TEST-2026-0001",
                idempotency_key=f"rest-a-{i:04d}",
                item_code="XZXZ-MZ-001",
                holder_number=person,
                purpose="户籍业务",
                legal_basis="户口登记条例",
            )
        )
        agrpc.AssistanceStub(server.channel("hall")).RecordCommitment(
            apb.RecordCommitmentRequest(
                applicant_number=person,
                licence_type_code=demo.RESIDENCE_PERMIT.type_code,
                case_number=f"C-{i}",
                check_by="2099-01-01",
            )
        )
        police.ListLicencesByHolder(pb.ListLicencesByHolderRequest(**WHY, holder_number=person))


def test_a_copy_of_a_running_demo_database_holds_no_citizen_id_number(tmp_path: Path):
    with server_process(None) as server:
        _use_every_path(server)
        copy = tmp_path / "copy"
        copy.mkdir()
        for f in server.var_dir.glob("yihao.db*"):  # the file and its WAL, while it runs
            shutil.copy(f, copy / f.name)
        assert (copy / "yihao.db").exists()
    data = b"".join(f.read_bytes() for f in copy.iterdir())
    assert len(data) > 100_000
    for person in PEOPLE:
        for form in (person, person[:6] + person[8:17], person.lower()):
            assert form.encode() not in data, f"{form} found in the database copy"
    assert "张三".encode() in data  # the copy is real: names are stored in clear


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_no_table_or_column_holds_a_sensitive_value_in_clear(
    backend: str, request: pytest.FixtureRequest
):
    """Every path used, then every column of every table searched: no sensitive field value
    and no holder number in clear anywhere (licence versions, assistance answers, ...)."""
    url = None
    if backend == "postgresql":
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database("atrest_every_column")
    with server_process(url) as server:
        _use_every_path(server)
        url = url or f"sqlite:///{server.var_dir / 'yihao.db'}"
        numbers = [form for p in PEOPLE for form in (p, p[:6] + p[8:17])]
        hits = clear_hits(url, [*SENSITIVE, *numbers])
        tables = tables_scanned(url)
        names = clear_hits(url, ["张三"])
    assert {"assistance_requests", "licence_versions", "access_records"} <= set(tables)
    assert names, "the search is real: holder names are stored in clear"
    assert not hits
