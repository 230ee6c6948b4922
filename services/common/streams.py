"""Client streams: batching without waiting forever for a full batch, and pipelining.

:class:`StreamBatcher`: a reader thread drains the request iterator into a bounded queue; the
handler takes up to ``size`` items, or whatever has arrived when the stream pauses for
``flush_after`` seconds. So a client that sends ten records and waits for their results gets
them, and a fast client still gets full batches (and the server overlaps reading with writing).

With ``weight``, an item counts as ``weight(item)`` towards ``size`` (say, a message of many
records counts as its records): a batch closes once it holds ``size`` or more.

:func:`pipelined`: each request is answered in order, the work on the next one overlapping
the wait for the previous one's durable write, never waiting for a request not yet sent.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from services.common.errors import YihaoError
from services.common.thread_names import name_this_thread

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
_END = object()


class StreamBatcher(Generic[T]):
    """Batches of items from a (blocking) iterator, flushed on size or on a pause."""

    def __init__(
        self,
        items: Iterable[T],
        size: int,
        flush_after: float = 0.05,
        *,
        weight: Callable[[T], int] | None = None,
        max_queued: int | None = None,
    ) -> None:
        self._size = size
        self._flush_after = flush_after
        self._weight: Callable[[T], int] = weight or _one
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queued or size * 4)
        self._error: BaseException | None = None
        self._reader = threading.Thread(
            target=self._pump, args=(items,), name="stream-reader", daemon=True
        )
        self._reader.start()

    def _pump(self, items: Iterable[T]) -> None:
        name_this_thread()
        try:
            for item in items:
                self._queue.put(item)
        except BaseException as exc:  # e.g. the client cancelled: end the batches
            self._error = exc
        finally:
            self._queue.put(_END)

    def __iter__(self) -> Iterator[list[T]]:
        while True:
            first = self._queue.get()
            if first is _END:
                self._raise_caller_error()
                return
            batch: list[T] = [first]  # type: ignore[list-item]
            ended = self._fill(batch)
            yield batch
            if ended:
                self._raise_caller_error()
                return

    def _raise_caller_error(self) -> None:
        # A caller's error while reading (an undecodable message) ends the stream with that
        # error once the items before it are handled; a cancelled stream just ends.
        if isinstance(self._error, YihaoError):
            raise self._error

    def _fill(self, batch: list[T]) -> bool:
        """Add items until the batch weighs ``size`` or the stream pauses; True at its end."""
        total = self._weight(batch[0])
        while total < self._size:
            try:
                item = self._queue.get(timeout=self._flush_after)
            except queue.Empty:
                return False
            if item is _END:
                return True
            batch.append(item)  # type: ignore[arg-type]
            total += self._weight(item)  # type: ignore[arg-type]
        return False


def _one(_item: object) -> int:
    return 1


class _Nothing:
    """Nothing has arrived yet (the stream is still open)."""


_NOTHING = _Nothing()


class Prefetch(Generic[T]):
    """Items from a (blocking) iterator, read ahead by a thread into a small queue."""

    def __init__(self, items: Iterable[T], ahead: int = 4) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=ahead)
        self._closed = threading.Event()
        self._error: YihaoError | None = None
        self._reader = threading.Thread(
            target=self._pump, args=(items,), name="stream-reader", daemon=True
        )
        self._reader.start()

    def _pump(self, items: Iterable[T]) -> None:
        name_this_thread()
        try:
            for item in items:
                if not self._put(item):
                    return
        except YihaoError as exc:  # a caller's error (an undecodable message): raised at the end
            self._error = exc
        except BaseException:  # e.g. the client cancelled: the stream ends here
            pass
        self._put(_END)

    def _put(self, item: object) -> bool:
        # Never blocks for good: once closed, nobody takes from the queue any more.
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop reading ahead (the consumer is gone, say after an error)."""
        self._closed.set()

    def next(self, *, wait: bool = True) -> T | _Nothing | None:
        """The next item; None at the end; ``_NOTHING`` if ``wait`` is false and none is here."""
        try:
            item = self._queue.get(block=wait)
        except queue.Empty:
            return _NOTHING
        if item is _END:
            self._queue.put(_END)  # the end stays the end
            if self._error is not None:
                raise self._error
            return None
        return item  # type: ignore[return-value]


def pipelined(
    requests: Iterable[T], start: Callable[[T], P], finish: Callable[[P], R]
) -> Iterator[R]:
    """``finish(start(request))`` for each request, in order, overlapping the next ``start``
    with the previous ``finish`` when the next request has already arrived.

    ``start`` does the work, ``finish`` waits for what must precede the answer (say, a durable
    write running in another thread) and makes it. An answer is never held back waiting for a
    request that has not come: a client that sends one and waits gets it.
    """
    ahead = Prefetch(requests)
    pending: P | None = None
    try:
        while True:
            try:
                request = ahead.next(wait=pending is None)
            except YihaoError:
                if pending is not None:
                    yield finish(pending)  # what was verified before the bad message is answered
                raise
            if request is None:
                if pending is not None:
                    yield finish(pending)
                return
            if isinstance(request, _Nothing):
                assert pending is not None
                yield finish(pending)
                pending = None
                continue
            started = start(request)
            if pending is not None:
                yield finish(pending)
            pending = started
    finally:
        ahead.close()
