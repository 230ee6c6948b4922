"""A fake of the calls the supervision room makes, answering with the services' real messages:
two providers, one overdue request, one answered, one refused (its urgings are recorded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from yihao.v1 import assistance_pb2 as apb
from yihao.v1 import verifier_pb2 as vpb
from yihao_shared.errors import FailedPrecondition, InvalidArgument, NotFound

#: The unit tests' desk clock starts here (tests/clients/web/conftest.py FakeClock).
NOW = 1_796_000_000
DAY = 86_400
EDU, POLICE, HRSS = "12350100MB0000001X", "113501000000000002", "113501000000000003"
NAMES = {EDU: "福州市教育局", POLICE: "福州市公安局", HRSS: "福州市人社局"}
HOLDER = "320106198707105231"


def _ts(seconds: float) -> Timestamp:
    return Timestamp(seconds=int(seconds))


def _request(rid: str, provider: str, status: int, submitted: float, deadline: float) -> Any:
    return apb.AssistanceRequest(
        request_id=rid,
        item_code="XZXZ-JY-001" if provider == EDU else "XZXZ-GA-001",
        item_name="学历学位信息核查" if provider == EDU else "户籍信息核查",
        requester_code=HRSS,
        provider_code=provider,
        holder_number=HOLDER,
        purpose="职业资格审查",
        case_number="RS-2026-007",
        status=status,
        submitted_at=_ts(submitted),
        deadline=_ts(deadline),
        overdue=status == apb.REQUEST_STATUS_PENDING and deadline < NOW,
    )


@dataclass
class FakeSupervision:
    """Supervise, GetRequest, Urge, ListItems, ListDepartments, ListAccessRecords, health,
    GetTreeHead."""

    requests: dict[str, Any] = field(default_factory=dict)
    urged: list[tuple[str, str]] = field(default_factory=list)
    supervised: list[dict[str, Any]] = field(default_factory=list)
    head_at: float = NOW - 30
    health_of: dict[str, str] = field(default_factory=dict)
    access_asked: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        late = _request("R1LATE", EDU, apb.REQUEST_STATUS_PENDING, NOW - 10 * DAY, NOW - 3 * DAY)
        done = _request("R2DONE", POLICE, apb.REQUEST_STATUS_ANSWERED, NOW - 9 * DAY, NOW - 2 * DAY)
        done.decided_at.CopyFrom(_ts(NOW - 8 * DAY))
        no = _request("R3NO", EDU, apb.REQUEST_STATUS_REFUSED, NOW - 8 * DAY, NOW - DAY)
        no.decided_at.CopyFrom(_ts(NOW - 7 * DAY))
        no.refusal_ground, no.refusal_explanation = "NO_RECORD", "查无此人"
        self.requests = {r.request_id: r for r in (late, done, no)}

    def supervise(self, **fields: Any) -> Any:
        self.supervised.append(fields)
        codes = fields.get("department_codes") or [EDU, POLICE]
        pending = [
            r
            for r in self.requests.values()
            if r.status == apb.REQUEST_STATUS_PENDING and r.provider_code in codes
        ]
        report = apb.SupervisionReport(as_of=_ts(NOW), overdue=pending)
        if EDU in codes:
            report.departments.add(
                department_code=EDU,
                department_name=NAMES[EDU],
                requests=2,
                refused=1,
                overdue_now=1,
                urgings=sum(len(r.urgings) for r in pending),
            )
        if POLICE in codes:
            report.departments.add(
                department_code=POLICE,
                department_name=NAMES[POLICE],
                requests=1,
                answered=1,
                answered_on_time=1,
                median_response_working_hours=4.0,
            )
        return report

    def get_request(self, request_id: str, **_: Any) -> Any:
        if not request_id.isalnum():
            raise InvalidArgument.field("request_id", "is not a request id", "FORMAT")
        if request_id not in self.requests:
            raise NotFound(f"no request {request_id}", reason="REQUEST_NOT_FOUND")
        return self.requests[request_id]

    def urge(self, request_id: str, note: str = "", **_: Any) -> Any:
        request = self.get_request(request_id)
        if request.status != apb.REQUEST_STATUS_PENDING:
            raise FailedPrecondition("not pending", reason="REQUEST_NOT_PENDING")
        request.urgings.add(by_code="1135010075749118XX", note=note, at=_ts(NOW))
        self.urged.append((request_id, note))
        return request

    def all_items(self, **_: Any) -> Any:
        return iter(
            [
                apb.AssistanceItem(code="XZXZ-JY-001", name="学历学位信息核查", provider_code=EDU),
                apb.AssistanceItem(code="XZXZ-GA-001", name="户籍信息核查", provider_code=POLICE),
            ]
        )

    def list_departments(self, **_: Any) -> Any:
        departments = [SimpleNamespace(credit_code=c, name=n) for c, n in NAMES.items()]
        return SimpleNamespace(departments=departments, next_page_token="")

    def list_access_records(self, **fields: Any) -> Any:
        self.access_asked.append(fields)
        if not fields["holder_number"].isalnum():
            raise InvalidArgument.field("holder_number", "is not an ID number", "FORMAT")
        records = [
            apb.AccessRecord(
                at=_ts(NOW - DAY),
                department_code=HRSS,
                department_name=NAMES[HRSS],
                channel="assistance",
                purpose="职业资格审查",
                case_number="RS-2026-007",
                what="学历学位信息核查 (XZXZ-JY-001): degree",
                staff="wang.fang",
            )
        ]
        more = "" if fields.get("page_token") else "next-page"
        return apb.ListAccessRecordsResponse(records=records, next_page_token=more)

    def health(self, service: str = "", **_: Any) -> str:
        return self.health_of.get(service, "SERVING")

    def get_tree_head(self, **_: Any) -> Any:
        return vpb.SignedTreeHead(tree_size=42, root_hash=b"\x01" * 32, at=_ts(self.head_at))
