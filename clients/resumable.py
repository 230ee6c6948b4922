"""Streaming import: records packed many to a message, and resuming after a failure.

:func:`messages` packs records into ``ImportLicencesRequest`` messages (up to
``per_message`` records and :data:`MESSAGE_BYTES` bytes each; the server refuses more than
1,000 records or 4 MiB in one message).

:func:`import_resumable` survives a lost connection or a database restart. Records are sent
on a stream; each result says the record is durable. When the stream fails with a transient
error (UNAVAILABLE, RESOURCE_EXHAUSTED), a new stream is opened after a backoff and the
records that had no result yet are sent again first. Their idempotency keys make that safe:
one stored by the failed stream but not acknowledged comes back as DUPLICATE, never twice. At
most ``window`` records are in flight, so memory stays bounded however large the file.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from clients.retry import RetryPolicy
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import YihaoError

#: The server's limit on records per message.
MAX_PER_MESSAGE = 1000
#: Records per message unless asked otherwise.
DEFAULT_PER_MESSAGE = 500
#: A message is sent once its records reach this many bytes (the server's cap is 4 MiB).
MESSAGE_BYTES = 3 * 1024 * 1024
#: Records in flight on a resumable import: several of the server's 2,000-record
#: transactions, so the next one is already on its way while one commits.
DEFAULT_WINDOW = 8000

Stream = Callable[[Iterator[pb.ImportLicencesRequest]], Iterator[pb.ImportResult]]


def check_per_message(per_message: int) -> int:
    """``per_message`` if the server accepts it, else ValueError."""
    if not 1 <= per_message <= MAX_PER_MESSAGE:
        raise ValueError(f"per_message must be between 1 and {MAX_PER_MESSAGE}")
    return per_message


def messages(
    records: Iterable[pb.ImportRecord], per_message: int = DEFAULT_PER_MESSAGE
) -> Iterator[pb.ImportLicencesRequest]:
    """``records`` packed into request messages, in order.

    A message goes once it is full or ``records`` ends: a caller that produces records
    slowly and waits for results before sending more must pass ``per_message=1``.
    """
    check_per_message(per_message)
    chunk: list[pb.ImportRecord] = []
    size = 0
    for record in records:
        chunk.append(record)
        size += record.ByteSize()
        if len(chunk) >= per_message or size >= MESSAGE_BYTES:
            yield pb.ImportLicencesRequest(records=chunk)
            chunk, size = [], 0
    if chunk:
        yield pb.ImportLicencesRequest(records=chunk)


class _Pending:
    """Records sent but not yet answered, shared by the sending and receiving sides."""

    def __init__(self, records: Iterable[pb.ImportRecord], window: int, per_message: int) -> None:
        self._source = iter(records)
        self._window = window
        self._per_message = per_message
        # line → records with that line not yet answered (lines need not be unique), oldest
        # first; ``_count`` of them in all.
        self._sent: dict[int, deque[pb.ImportRecord]] = {}
        self._count = 0
        self._cond = threading.Condition()
        self.exhausted = False
        self.broken = False

    def feed(self) -> Iterator[pb.ImportLicencesRequest]:
        """What a new stream sends: the unanswered records again, then new ones, packed."""
        with self._cond:
            again = [record for same in self._sent.values() for record in same]
            self.broken = False
        yield from messages(again, self._per_message)
        while True:
            chunk = self._take()
            if chunk is None:
                return
            yield pb.ImportLicencesRequest(records=chunk)

    def _take(self) -> list[pb.ImportRecord] | None:
        """The next message's records (None: nothing more to send on this stream).

        Waits for room in the window only while the message is empty, so a message that
        holds records is never kept back while the server waits for it.
        """
        chunk: list[pb.ImportRecord] = []
        size = 0
        with self._cond:
            while len(chunk) < self._per_message and size < MESSAGE_BYTES:
                if not chunk:
                    self._cond.wait_for(lambda: self._count < self._window or self.broken)
                if self.broken or self._count >= self._window:
                    break
                record = next(self._source, None)
                if record is None:
                    self.exhausted = True
                    break
                self._sent.setdefault(record.line, deque()).append(record)
                self._count += 1
                chunk.append(record)
                size += record.ByteSize()
        return chunk or None

    def answered(self, line: int) -> None:
        with self._cond:
            same = self._sent.get(line)
            if same:
                same.popleft()
                self._count -= 1
                if not same:
                    del self._sent[line]
                self._cond.notify_all()

    def stop_feeding(self) -> None:
        with self._cond:
            self.broken = True
            self._cond.notify_all()

    @property
    def done(self) -> bool:
        with self._cond:
            return self.exhausted and not self._count


def import_resumable(
    stream: Stream,
    records: Iterable[pb.ImportRecord],
    policy: RetryPolicy,
    *,
    window: int = DEFAULT_WINDOW,
    per_message: int = DEFAULT_PER_MESSAGE,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[pb.ImportResult]:
    """Yield one result per record, riding out transient failures within ``policy``."""
    pending = _Pending(records, window, check_per_message(per_message))
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
