"""Protobuf ↔ domain translation for the licence store (transport layer only)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from services.common.errors import InvalidArgument
from services.common.identifiers import HolderKind
from services.common.roles import Role
from services.common.wire import key_out, timestamp
from services.licence_store.domain.catalogue import (
    Department,
    FieldSpec,
    FieldType,
    LicenceType,
)
from services.licence_store.domain.effective import Effective
from services.licence_store.domain.licence import EventKind, Status
from services.licence_store.domain.stored import StoredEvent
from services.licence_store.lifecycle import IssueCommand
from services.licence_store.queries import LicenceView
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb

HOLDER_KINDS = {
    HolderKind.PERSON: common.HOLDER_KIND_PERSON,
    HolderKind.ORGANISATION: common.HOLDER_KIND_ORGANISATION,
}
HOLDER_KINDS_IN: dict[int, HolderKind] = {v: k for k, v in HOLDER_KINDS.items()}
ROLES = {role: getattr(common, f"ROLE_{role.name}") for role in Role}
ROLES_IN: dict[int, Role] = {v: k for k, v in ROLES.items()}
STATUSES = {s: getattr(common, f"LICENCE_STATUS_{s.name}") for s in Status}
STATUSES_IN: dict[int, Status] = {v: k for k, v in STATUSES.items()}
EFFECTIVE = {e: getattr(common, f"EFFECTIVE_STATUS_{e.name}") for e in Effective}
EVENT_KINDS = {k: getattr(pb, f"EVENT_KIND_{k.name}") for k in EventKind}
FIELD_TYPES = {t: getattr(pb, f"FIELD_TYPE_{t.name}") for t in FieldType}
FIELD_TYPES_IN: dict[int, FieldType] = {v: k for k, v in FIELD_TYPES.items()}


def holder_kind_in(value: int, field: str, *, required: bool = False) -> HolderKind | None:
    """A request's holder kind (UNSPECIFIED → None, or an error when required)."""
    if value in HOLDER_KINDS_IN:
        return HOLDER_KINDS_IN[value]
    if value == common.HOLDER_KIND_UNSPECIFIED and not required:
        return None
    raise InvalidArgument.field(field, "must be PERSON or ORGANISATION", "ENUM")


def roles_in(values: Iterable[int], field: str = "roles") -> list[Role]:
    """Roles from a request, refusing unknown or unspecified values."""
    roles = []
    for i, value in enumerate(values):
        if value not in ROLES_IN:
            raise InvalidArgument.field(f"{field}[{i}]", f"{value} is not a role", "ENUM")
        roles.append(ROLES_IN[value])
    return roles


def statuses_in(values: Iterable[int], field: str = "statuses") -> list[Status]:
    """Stored statuses from a request filter."""
    statuses = []
    for i, value in enumerate(values):
        if value not in STATUSES_IN:
            raise InvalidArgument.field(f"{field}[{i}]", f"{value} is not a status", "ENUM")
        statuses.append(STATUSES_IN[value])
    return statuses


def department_out(dept: Department, registered_at: datetime | None = None) -> pb.Department:
    """A department for an answer."""
    return pb.Department(
        credit_code=dept.credit_code,
        name=dept.name,
        region=dept.region,
        roles=sorted(ROLES[r] for r in dept.roles),
        signing_keys=[key_out(k) for k in dept.keys],
        registered_at=timestamp(registered_at),
    )


def licence_type_in(msg: pb.LicenceType) -> LicenceType:
    """A licence type from a registration request (validated)."""
    specs = []
    for i, f in enumerate(msg.fields):
        if f.type not in FIELD_TYPES_IN:
            raise InvalidArgument.field(
                f"licence_type.fields[{i}].type",
                "must be STRING, DATE, INTEGER, DECIMAL or BOOLEAN",
                "ENUM",
            )
        specs.append(
            FieldSpec(
                f.name,
                f.label,
                FIELD_TYPES_IN[f.type],
                f.required,
                f.sensitive,
                f.max_length or 512,
            )
        )
    return LicenceType.create(
        type_code=msg.type_code,
        name=msg.name,
        holder_kind=holder_kind_in(msg.holder_kind, "licence_type.holder_kind"),
        fields=specs,
        default_validity_days=msg.default_validity_days,
        issuer_codes=list(msg.issuer_codes),
        consent_required=msg.consent_required,
    )


def licence_type_out(lt: LicenceType) -> pb.LicenceType:
    """A licence type for an answer."""
    return pb.LicenceType(
        type_code=lt.type_code,
        name=lt.name,
        holder_kind=HOLDER_KINDS[lt.holder_kind],
        fields=[
            pb.FieldSpec(
                name=f.name,
                label=f.label,
                type=FIELD_TYPES[f.type],
                required=f.required,
                sensitive=f.sensitive,
                max_length=f.max_length,
            )
            for f in lt.fields
        ],
        default_validity_days=lt.default_validity_days,
        issuer_codes=sorted(lt.issuer_codes),
        definer_code=lt.definer_code,
        consent_required=lt.consent_required,
    )


def issue_command_in(msg: pb.IssueLicenceRequest) -> IssueCommand:
    """An issue request as a plain command."""
    return IssueCommand(
        idempotency_key=msg.idempotency_key,
        type_code=msg.type_code,
        licence_number=msg.licence_number,
        holder_number=msg.holder.number,
        holder_name=msg.holder.name,
        holder_kind=holder_kind_in(msg.holder.kind, "holder.kind"),
        fields=dict(msg.fields),
        valid_from=msg.valid_from,
        valid_until=msg.valid_until,
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def licence_out(view: LicenceView) -> pb.Licence:
    """A licence for an answer."""
    lic, signed = view.stored.licence, view.stored.signed
    reason = lic.status_reason
    shown = view.shown
    number, name = (
        (shown.holder_number, shown.holder_name) if shown else (lic.holder.value, lic.holder_name)
    )
    fields = shown.fields if shown else lic.fields
    return pb.Licence(
        licence_id=signed.licence_id,
        type_code=lic.type_code,
        type_name=view.type_name,
        licence_number=lic.licence_number,
        issuer_code=lic.issuer_code,
        issuer_name=view.issuer_name,
        holder=common.Holder(kind=HOLDER_KINDS[lic.holder.kind], number=number, name=name),
        fields={k: _text(v) for k, v in fields.items()},
        valid_from=lic.validity.valid_from.isoformat(),
        valid_until=lic.validity.valid_until.isoformat() if lic.validity.valid_until else "",
        version=lic.version,
        status=STATUSES[lic.status],
        effective_status=EFFECTIVE[view.effective],
        status_reason_code=reason.code if reason else "",
        status_reason_text=reason.text if reason else "",
        signature=common.Signature(
            key_id=signed.key_id, algorithm=signed.algorithm, value=signed.signature
        ),
        content_sha256=signed.content_sha256,
        issued_at=timestamp(lic.issued_at),
        version_at=timestamp(lic.version_at),
        status_at=timestamp(lic.status_at),
    )


def event_out(stored: StoredEvent) -> pb.LicenceEvent:
    """An event for an answer."""
    e = stored.event
    return pb.LicenceEvent(
        cursor=stored.cursor,
        licence_id=stored.licence_id,
        type_code=stored.type_code,
        kind=EVENT_KINDS[e.kind],
        version=e.version,
        actor_code=e.actor_code,
        reason_code=e.reason.code if e.reason else "",
        reason_text=e.reason.text if e.reason else "",
        at=timestamp(e.at),
        status_after=STATUSES[e.status_after],
        staff=e.staff or "",
    )
