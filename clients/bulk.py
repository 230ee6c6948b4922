"""``yihao import``: stream a file of licences to the store, show progress, sum up.

Records the file reader refuses (:class:`~clients.importfile.LocalRejection`) never reach the
server but are counted and reported with the server's rejections, by line number. Progress
goes to stderr: a self-rewriting line on a terminal, otherwise a line every
:data:`PROGRESS_EVERY` results (so logs stay readable).
"""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from clients import render
from clients.commands import Context, SetupError
from clients.importfile import Item, LocalRejection, read_records
from yihao.v1 import licence_store_pb2 as pb
from yihao_shared.errors import InvalidArgument, YihaoError

#: Records per ImportLicences stream (``--batch``); each stream's end makes the server
#: answer its last partial batch, and a broken connection loses at most one stream's work.
DEFAULT_BATCH = 10_000
PROGRESS_EVERY = 10_000
TTY_REFRESH_SECONDS = 0.2


@dataclass
class Tally:
    """What happened to the records so far."""

    accepted: int = 0
    duplicate: int = 0
    rejected_remote: int = 0
    rejected_local: int = 0
    sent: int = 0
    rejections: list[pb.ImportResult] = field(default_factory=list)

    @property
    def answered(self) -> int:
        """Results received from the server."""
        return self.accepted + self.duplicate + self.rejected_remote

    @property
    def done(self) -> int:
        """Records finished either way."""
        return self.answered + self.rejected_local

    @property
    def unanswered(self) -> int:
        """Records sent that got no result (the stream ended early)."""
        return max(self.sent - self.answered, 0)

    def count(self, result: pb.ImportResult, local: bool = False) -> None:
        """Count one result (a local rejection if ``local``)."""
        if result.outcome == pb.IMPORT_OUTCOME_ACCEPTED:
            self.accepted += 1
        elif result.outcome == pb.IMPORT_OUTCOME_DUPLICATE:
            self.duplicate += 1
        else:
            self.rejections.append(result)
            if local:
                self.rejected_local += 1
            else:
                self.rejected_remote += 1


class Progress:
    """A progress line on stderr; see the module docstring."""

    def __init__(self, stream: TextIO, every: int = PROGRESS_EVERY) -> None:
        self.stream = stream
        self.every = every
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._next = every
        self._started = time.monotonic()

    def update(self, tally: Tally) -> None:
        """Report progress, if it is time to."""
        if self.tty:
            now = time.monotonic()
            if now - self._last >= TTY_REFRESH_SECONDS:
                self._last = now
                self.stream.write(f"\r{self._line(tally)}\x1b[K")
                self.stream.flush()
        elif tally.done >= self._next:
            self._next = (tally.done // self.every + 1) * self.every
            print(self._line(tally), file=self.stream, flush=True)

    def finish(self) -> None:
        """Clear the self-rewriting line."""
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _line(self, tally: Tally) -> str:
        rate = tally.done / max(time.monotonic() - self._started, 1e-6)
        rejected = tally.rejected_local + tally.rejected_remote
        return (
            f"{tally.done:,} records: {tally.accepted:,} accepted, {tally.duplicate:,} "
            f"duplicate, {rejected:,} rejected ({rate:,.0f}/s)"
        )


class _Split:
    """Splits file items into records to send and local rejections (kept for the main thread).

    The records are pulled by gRPC's sending thread; the main thread drains the rejections
    between results. A deque's append and popleft are thread-safe.
    """

    def __init__(self, items: Iterable[Item], tally: Tally) -> None:
        self._items = items
        self._tally = tally
        self.rejected: collections.deque[LocalRejection] = collections.deque()

    def records(self) -> Iterator[pb.ImportRecord]:
        for item in self._items:
            if isinstance(item, LocalRejection):
                self.rejected.append(item)
            else:
                self._tally.sent += 1
                yield item

    def drain(self) -> Iterator[pb.ImportResult]:
        while self.rejected:
            yield self.rejected.popleft().to_result()


def summary(tally: Tally) -> str:
    """The closing report: counts, then every rejected line with its reason."""
    rejected = tally.rejected_local + tally.rejected_remote
    lines = [
        f"{tally.accepted:,} accepted, {tally.duplicate:,} duplicate, {rejected:,} rejected "
        f"({tally.rejected_remote:,} by the server, {tally.rejected_local:,} locally)"
    ]
    if tally.unanswered:
        lines.append(f"{tally.unanswered:,} sent without an answer (run the import again)")
    for result in sorted(tally.rejections, key=lambda r: r.line):
        lines.append(f"  line {result.line}: {result.reason_code} {result.reason}".rstrip())
    return "\n".join(lines)


def _record(ctx: Context, tally: Tally, result: pb.ImportResult, local: bool = False) -> None:
    tally.count(result, local)
    if ctx.out.json:
        print(render.to_json(result), file=ctx.out.stdout)


def batches(records: Iterator[pb.ImportRecord], size: int) -> Iterator[Iterator[pb.ImportRecord]]:
    """``records`` cut into runs of ``size``, each taken lazily (one stream each).

    A run is finished (its stream ended) before the next is started, so the shared iterator
    is never read by two threads at once.
    """
    while True:
        first = next(records, None)
        if first is None:
            return
        yield itertools.chain((first,), itertools.islice(records, size - 1))


def _drain(ctx: Context, split: _Split, tally: Tally) -> None:
    for rejection in split.drain():
        _record(ctx, tally, rejection, local=True)


def _run(ctx: Context, split: _Split, tally: Tally, progress: Progress) -> None:
    for batch in batches(split.records(), ctx.args.batch):
        for result in ctx.client().import_licences_resumable(batch):
            _record(ctx, tally, result)
            _drain(ctx, split, tally)
            progress.update(tally)
    _drain(ctx, split, tally)


def cmd_import(ctx: Context) -> int:
    """Import a JSON Lines or CSV file; exit 1 if any record was rejected."""
    try:
        items = read_records(ctx.args.file, ctx.args.format)
    except YihaoError as exc:
        raise SetupError(exc) from exc
    tally = Tally()
    progress = Progress(ctx.out.stderr)
    report = ctx.out.stderr if ctx.out.json else ctx.out.stdout
    try:
        _run(ctx, _Split(items, tally), tally, progress)
    except (YihaoError, OSError) as exc:
        progress.finish()
        if tally.done:
            print(summary(tally), file=report)
            ctx.out.note("the import stopped early; running it again skips what was stored")
        if isinstance(exc, OSError):
            error = InvalidArgument.field("file", f"reading {ctx.args.file} failed: {exc}")
            raise SetupError(error) from exc
        raise
    progress.finish()
    print(summary(tally), file=report, flush=True)
    return 1 if tally.rejections or tally.unanswered else 0
