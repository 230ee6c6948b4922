"""What ``yihao audit verify`` checks of consent: each grant and each revocation against its
entry in the tamper-evident log, and each stored grant and revocation for an entry."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection

from services.common.audit_log import Leaf
from services.licence_store.domain.consent import (
    GRANT_KIND,
    REVOKE_KIND,
    grant_entry,
    revocation_entry,
)
from services.licence_store.persistence import consent as repo

#: (leaf index or -1, kind, grant id, what is wrong)
Finding = tuple[int, str, str, str]


def consent_findings(conn: Connection, leaves: Sequence[Leaf]) -> Iterator[Finding]:
    """Grants and revocations deleted, edited, undone, or written behind the log's back."""
    grants = {g.grant_id: g for g in repo.all_grants(conn)}
    granted = {x.ref: x for x in leaves if x.kind == GRANT_KIND}
    revoked = {x.ref: x for x in leaves if x.kind == REVOKE_KIND}
    for ref, leaf in granted.items():
        grant = grants.get(ref)
        if grant is None:
            yield leaf.index, leaf.kind, ref, "consent grant deleted"
        elif grant_entry(grant).payload_sha256 != leaf.payload_sha256:
            yield leaf.index, leaf.kind, ref, "consent grant edited"
    for ref, leaf in revoked.items():
        grant = grants.get(ref)
        if grant is None or grant.revoked_at is None:
            yield leaf.index, leaf.kind, ref, "consent revocation undone (or its grant deleted)"
        elif revocation_entry(grant).payload_sha256 != leaf.payload_sha256:
            yield leaf.index, leaf.kind, ref, "consent revocation edited"
    for ref, grant in grants.items():
        if ref not in granted:
            yield -1, GRANT_KIND, ref, "consent grant not in the log (written behind it)"
        elif grant.revoked_at is not None and ref not in revoked:
            yield -1, REVOKE_KIND, ref, "consent revocation not in the log (written behind it)"
