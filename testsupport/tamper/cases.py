"""The licences the tamper matrix edits: one per (edit, lifecycle state), brought to that state
by its issuer through the running server's gRPC API, with what the issuer's latest act makes
the honest answer.

Before the issuer's last act, the rows of the licence are copied (as someone who can read the
database could copy them), so that an edit can put that older copy back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Table, select

import services.schema  # noqa: F401  (every table on the metadata)
from services.common.database import metadata
from services.licence_store import demo
from testsupport.samples import BUSINESS_FIELDS
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb

HOLDER = "91350100M000100Y43"
TYPE_CODE = demo.BUSINESS_LICENCE.type_code
#: The lifecycle states, each as the issuer's acts after issue that lead to it.
STATES: dict[str, tuple[str, ...]] = {
    "active": (),
    "changed": ("change",),
    "renewed": ("renew",),
    "suspended": ("suspend",),
    "reinstated": ("suspend", "reinstate"),
    "revoked": ("revoke",),
    "cancelled": ("cancel",),
}
#: The honest verdict of a licence in each state (VALID ones at their newest version).
TRUTH: dict[str, int] = {
    "active": vpb.VERDICT_VALID,
    "changed": vpb.VERDICT_VALID,
    "renewed": vpb.VERDICT_VALID,
    "suspended": vpb.VERDICT_SUSPENDED,
    "reinstated": vpb.VERDICT_VALID,
    "revoked": vpb.VERDICT_REVOKED,
    "cancelled": vpb.VERDICT_CANCELLED,
}
#: Tables holding a licence's rows, children first (the order rows are deleted in).
LICENCE_TABLES = ("licence_statements", "licence_events", "licence_versions", "licences")


@dataclass
class Case:
    """One licence in one lifecycle state, to be edited one way."""

    edit: str
    state: str
    number: str
    licence_id: str = ""  # the newest version's identifier
    serial: str = ""
    version: int = 1
    before_last_act: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sibling: Case | None = None  # another licence, for edits that swap rows between two
    applied: bool = True  # False: this edit does not apply to this state (e.g. no older version)

    @property
    def truth(self) -> int:
        """The verdict the issuer's latest act makes right."""
        return TRUTH[self.state]


def issue(store: Any, number: str) -> str:
    """Issue a business licence valid until the end of 2030 (renewable); its identifier."""
    reply = store.IssueLicence(
        pb.IssueLicenceRequest(
            idempotency_key=f"tamper-{number}",
            type_code=TYPE_CODE,
            licence_number=number,
            holder=common.Holder(number=HOLDER, name="示例科技有限公司"),
            fields=BUSINESS_FIELDS,
            valid_until="2030-12-31",
        )
    )
    return str(reply.licence_id)


def _act(store: Any, verb: str, licence_id: str) -> pb.Licence:
    ref = pb.LicenceRef(licence_id=licence_id)
    coded = {
        "suspend": (store.SuspendLicence, "VIOLATION"),
        "reinstate": (store.ReinstateLicence, "RECTIFIED"),
        "revoke": (store.RevokeLicence, "FRAUD"),
        "cancel": (store.CancelLicence, "HOLDER_REQUEST"),
    }
    if verb in coded:
        call, code = coded[verb]
        return call(pb.StatusChangeRequest(licence=ref, reason_code=code))
    if verb == "change":
        return store.ChangeLicence(pb.ChangeLicenceRequest(licence=ref, fields={"address": "新址"}))
    until = (date(2030, 12, 31) + timedelta(days=365)).isoformat()
    return store.RenewLicence(pb.RenewLicenceRequest(licence=ref, valid_until=until))


def bring(
    case: Case,
    store: Any,
    copy_rows: Callable[[str], dict[str, list[Any]]],
    *,
    last_act: bool = True,
) -> None:
    """Issue the case's licence and take it to its state (``last_act`` False: up to its
    issuer's last act, see :func:`finish`); copy its rows before the last act."""
    case.licence_id = issue(store, case.number)
    case.serial = case.licence_id.split(".")[-3]
    acts = STATES[case.state]
    for verb in acts[:-1]:
        _take(case, _act(store, verb, case.licence_id))
    if acts:
        case.before_last_act = copy_rows(case.serial)
    if last_act:
        finish(case, store)


def finish(case: Case, store: Any) -> None:
    """The issuer's last act on a case's licence (none for a licence that stays as issued)."""
    acts = STATES[case.state]
    if acts:
        _take(case, _act(store, acts[-1], case.licence_id))


def _take(case: Case, reply: pb.Licence) -> None:
    case.licence_id, case.version = reply.licence_id, reply.version


def table(name: str) -> Table:
    """A licence store table by name."""
    return metadata.tables[name]


def copy_rows(conn: Connection, serial: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of a licence, table by table (what an older copy of them would hold)."""
    return {
        name: [
            dict(r._mapping)
            for r in conn.execute(select(table(name)).where(table(name).c.serial == serial))
        ]
        for name in LICENCE_TABLES
    }
