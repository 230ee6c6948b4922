"""Batching a client stream without waiting forever for a full batch.

A reader thread drains the request iterator into a bounded queue; the handler takes up to
``size`` items, or whatever has arrived when the stream pauses for ``flush_after`` seconds.
So a client that sends ten records and waits for their results gets them, and a fast client
still gets full batches (and the server overlaps reading with writing).

With ``weight``, an item counts as ``weight(item)`` towards ``size`` (say, a message of many
records counts as its records): a batch closes once it holds ``size`` or more.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
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
        self._weight = weight
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queued or size * 4)
        self._error: BaseException | None = None
        self._reader = threading.Thread(target=self._pump, args=(items,), daemon=True)
        self._reader.start()

    def _pump(self, items: Iterable[T]) -> None:
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
                return
            batch: list[T] = [first]  # type: ignore[list-item]
            ended = self._fill(batch) if self._weight is None else self._fill_weighed(batch)
            yield batch
            if ended:
                return

    def _fill(self, batch: list[T]) -> bool:
        while len(batch) < self._size:
            try:
                item = self._queue.get(timeout=self._flush_after)
            except queue.Empty:
                return False
            if item is _END:
                return True
            batch.append(item)  # type: ignore[arg-type]
        return False

    def _fill_weighed(self, batch: list[T]) -> bool:
        assert self._weight is not None
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
