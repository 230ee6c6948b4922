"""ImportLicences from tests and benchmarks that hold a raw stub: records in, results out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from clients.resumable import messages
from yihao.v1 import licence_store_pb2 as pb


def import_records(
    stub: Any,
    records: Iterable[pb.ImportRecord],
    *,
    per_message: int = 100,
    timeout: float | None = None,
) -> Iterator[pb.ImportResult]:
    """``records`` sent ``per_message`` to a message on one stream; the results, flattened.

    ``per_message=1`` sends each record as soon as it is produced (for slow producers)."""
    call = stub.ImportLicences(messages(records, per_message), timeout=timeout)
    for response in call:
        yield from response.results
