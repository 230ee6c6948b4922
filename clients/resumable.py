"""Streaming import that survives a lost connection or a database restart.

Records are sent on a stream; each result says the record is durable. When the stream fails
with a transient error (UNAVAILABLE, RESOURCE_EXHAUSTED), a new stream is opened after a
backoff and the records that had no result yet are sent again first. Their idempotency keys
make that safe: one stored by the failed stream but not acknowledged comes back as
DUPLICATE, never twice. At most ``window`` records are in flight, so memory stays bounded
however large the file.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator

from clients.retry import RetryPolicy
from services.common.errors import YihaoError
from yihao.v1 import licence_store_pb2 as pb

Stream = Callable[[Iterator[pb.ImportRecord]], Iterator[pb.ImportResult]]


class _Pending:
    """Records sent but not yet answered, shared by the sending and receiving sides."""

    def __init__(self, records: Iterable[pb.ImportRecord], window: int) -> None:
        self._source = iter(records)
        self._window = window
        self._sent: OrderedDict[int, pb.ImportRecord] = OrderedDict()
        self._cond = threading.Condition()
        self.exhausted = False
        self.broken = False

    def feed(self) -> Iterator[pb.ImportRecord]:
        """What a new stream sends: the unanswered records again, then new ones."""
        with self._cond:
            again = list(self._sent.values())
            self.broken = False
        yield from again
        while True:
            with self._cond:
                self._cond.wait_for(lambda: len(self._sent) < self._window or self.broken)
                if self.broken:
                    return
                record = next(self._source, None)
                if record is None:
                    self.exhausted = True
                    return
                self._sent[record.line] = record
            yield record

    def answered(self, line: int) -> None:
        with self._cond:
            self._sent.pop(line, None)
            self._cond.notify_all()

    def stop_feeding(self) -> None:
        with self._cond:
            self.broken = True
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        with self._cond:
            return self.exhausted and not self._sent


def import_resumable(
    stream: Stream,
    records: Iterable[pb.ImportRecord],
    policy: RetryPolicy,
    *,
    window: int = 2000,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[pb.ImportResult]:
    """Yield one result per record, riding out transient failures within ``policy``."""
    pending = _Pending(records, window)
    delays = policy.backoff()
    end = time.monotonic() + policy.deadline
    while not pending.done:
        try:
            for result in stream(pending.feed()):
                pending.answered(result.line)
                yield result
                delays = policy.backoff()  # progress: the next failure starts afresh
        except YihaoError as error:
            pending.stop_feeding()
            wait = policy.wait(next(delays), error) if policy.retries(error) else None
            if wait is None or time.monotonic() + wait >= end:
                raise
            sleep(wait)
