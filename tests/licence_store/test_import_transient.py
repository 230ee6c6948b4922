"""A store failure during an import batch fails the batch (the client retries it whole); it
never answers the batch's records REJECTED. Found in full test runs: a catalogue reload during
a PostgreSQL restart had rejected every record of a batch as DATABASE_UNAVAILABLE."""

from __future__ import annotations

import pytest

from services.common.errors import Unavailable
from services.common.identity import Caller
from services.licence_store import demo
from services.licence_store.lifecycle import IssueCommand
from testsupport.samples import BUSINESS_FIELDS
from testsupport.stack import Stack

RECORD = IssueCommand(
    idempotency_key="transient-0001",
    type_code=demo.BUSINESS_LICENCE.type_code,
    licence_number="TRANSIENT-1",
    holder_number="91350100M000100Y43",
    holder_name="示例有限公司",
    fields=BUSINESS_FIELDS,
)


def test_an_unavailable_store_fails_the_batch_instead_of_rejecting_records(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
):
    store = stack.app.licence_store
    market = Caller(demo.ALIASES["market"])

    def unavailable(_code: str) -> None:
        raise Unavailable("the database is unavailable", reason="DATABASE_UNAVAILABLE")

    with monkeypatch.context() as patch:
        patch.setattr(store.cache, "licence_type", unavailable)
        with pytest.raises(Unavailable):
            store.imports.import_batch(market, [(1, RECORD)])
    (outcome,) = store.imports.import_batch(market, [(1, RECORD)])  # the retry
    assert outcome.outcome == "accepted"
