"""A fake of the calls the operator desk makes, answering with the services' real messages:
one licence type (a business licence with a decimal and a date field), a store that checks
the decimal field as the real one does and records what it is asked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from yihao.v1 import common_pb2
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import FieldViolation, InvalidArgument, NotFound

TYPE_CODE = "11100000000013338W011"
LICENCE_ID = "1.2.156.3005.2.11100000000013338W011.1135010052601815X2.ABC.001.X"
BUSINESS = pb.LicenceType(
    type_code=TYPE_CODE,
    name="营业执照",
    holder_kind=common_pb2.HOLDER_KIND_ORGANISATION,
    fields=[
        pb.FieldSpec(name="legal_representative", label="法定代表人", type=1, required=True),
        pb.FieldSpec(name="registered_capital", label="注册资本（万元）", type=4, required=True),
        pb.FieldSpec(name="established_on", label="成立日期", type=2),
        pb.FieldSpec(name="listed", label="上市", type=5),
        pb.FieldSpec(name="business_scope", label="经营范围", type=1, max_length=2000),
    ],
    issuer_codes=["1135010052601815X2"],
)


@dataclass
class FakeOperator:
    """ListLicenceTypes, GetLicenceType, IssueLicence, GetLicence and the lifecycle acts."""

    issued: list[pb.IssueLicenceRequest] = field(default_factory=list)
    acts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    licences: dict[str, pb.Licence] = field(default_factory=dict)
    watched: list[dict[str, Any]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)

    def all_licence_types(self, issuer_code: str = "", **_: Any) -> list[pb.LicenceType]:
        return [BUSINESS] if not issuer_code or issuer_code in BUSINESS.issuer_codes else []

    def get_licence_type(self, type_code: str, **_: Any) -> pb.LicenceType:
        if type_code != TYPE_CODE:
            raise NotFound(f"no licence type {type_code}")
        return BUSINESS

    def issue_licence(self, **fields: Any) -> pb.Licence:
        request = pb.IssueLicenceRequest(**fields)
        capital = request.fields.get("registered_capital", "")
        if not re.fullmatch(r"-?[0-9]{1,20}(\.[0-9]{1,10})?", capital):
            raise InvalidArgument(
                violations=[
                    FieldViolation(
                        "fields.registered_capital",
                        f"{capital!r} is not a plain decimal number such as 1000.50",
                        "DECIMAL_FORMAT",
                    )
                ]
            )
        self.issued.append(request)
        lic = pb.Licence(
            licence_id=LICENCE_ID,
            type_code=request.type_code,
            type_name="营业执照",
            licence_number=request.licence_number,
            holder=request.holder,
            fields=dict(request.fields),
            version=1,
            status=common_pb2.LICENCE_STATUS_ACTIVE,
        )
        self.licences[LICENCE_ID] = lic
        return lic

    def get_licence(self, licence: str, **why: Any) -> pb.Licence:
        self.reads.append(why)
        if licence not in self.licences:
            raise NotFound("no such licence")
        return self.licences[licence]

    def watch_events(self, **fields: Any) -> list[pb.LicenceEvent]:
        """Three events, newest first, a page of ``limit`` before ``before_cursor``."""
        self.watched.append(fields)
        events = [
            pb.LicenceEvent(
                cursor=c,
                licence_id=LICENCE_ID,
                type_code=TYPE_CODE,
                kind=kind,
                version=1,
                actor_code="1135010052601815X2",
                staff="operator",
                reason_code="INVESTIGATION" if kind == pb.EVENT_KIND_SUSPENDED else "",
                status_after=status,
            )
            for c, kind, status in (
                (3, pb.EVENT_KIND_REINSTATED, common_pb2.LICENCE_STATUS_ACTIVE),
                (2, pb.EVENT_KIND_SUSPENDED, common_pb2.LICENCE_STATUS_SUSPENDED),
                (1, pb.EVENT_KIND_ISSUED, common_pb2.LICENCE_STATUS_ACTIVE),
            )
        ]
        before = fields.get("before_cursor") or 10**9
        return [e for e in events if e.cursor < before][: fields.get("limit") or 50]

    def _act(self, name: str, status: int, fields: dict[str, Any]) -> pb.Licence:
        self.acts.append((name, fields))
        lic = self.licences[fields["licence"].licence_id]
        lic.status = status
        return lic

    def suspend_licence(self, **fields: Any) -> pb.Licence:
        return self._act("suspend", common_pb2.LICENCE_STATUS_SUSPENDED, fields)

    def change_licence(self, **fields: Any) -> pb.Licence:
        return self._act("change", common_pb2.LICENCE_STATUS_ACTIVE, fields)

    def reinstate_licence(self, **fields: Any) -> pb.Licence:
        return self._act("reinstate", common_pb2.LICENCE_STATUS_ACTIVE, fields)

    def revoke_licence(self, **fields: Any) -> pb.Licence:
        return self._act("revoke", common_pb2.LICENCE_STATUS_REVOKED, fields)

    def cancel_licence(self, **fields: Any) -> pb.Licence:
        return self._act("cancel", common_pb2.LICENCE_STATUS_CANCELLED, fields)

    def import_licences_resumable(self, records: Any, **_: Any) -> Any:
        """Accepts a record unless its number starts with BAD (rejected with a formula-like
        reason, as a hostile file could make the store echo)."""
        for record in records:
            if record.licence.licence_number.startswith("BAD"):
                yield pb.ImportResult(
                    line=record.line,
                    outcome=pb.IMPORT_OUTCOME_REJECTED,
                    reason_code="INVALID",
                    reason="=HYPERLINK(1)",
                )
            else:
                yield pb.ImportResult(
                    line=record.line, outcome=pb.IMPORT_OUTCOME_ACCEPTED, licence_id=LICENCE_ID
                )

    def renew_licence(self, **fields: Any) -> pb.Licence:
        return self._act("renew", common_pb2.LICENCE_STATUS_ACTIVE, fields)
