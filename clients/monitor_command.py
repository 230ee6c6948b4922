"""``yihao audit monitor``: its options and what it does (the checks: services.audit_monitor)."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from clients.client import YihaoClient
from clients.commands import Context, SetupError, server_part
from yihao_shared.errors import InvalidArgument, YihaoError

HELP = (
    "check the log's signed heads (via the server) against those kept in --state: signature, "
    "consistency with every kept head, the newest entries and the status chains of the "
    "licences they changed, inclusion of --ref entries; exit 1 and an ERROR line "
    "at the first inconsistency (2 if the server could not be reached in a single run)"
)


def add_arguments(parser: argparse.ArgumentParser, seconds: Callable[[str], float]) -> None:
    """The monitor's options on its subcommand ``parser``; ``seconds`` parses an interval."""
    parser.add_argument(
        "--state",
        type=Path,
        required=True,
        metavar="DIR",
        help="the monitor's own directory (never the store's database): kept heads in "
        "heads.jsonl (for `audit verify --heads`), the pinned log keys, spot-checked entries",
    )
    parser.add_argument(
        "--every",
        type=seconds,
        metavar="SECONDS",
        help="check again every SECONDS until SIGTERM/SIGINT (exit 0) or an inconsistency "
        "(exit 1); an unreachable server is logged and retried",
    )
    parser.add_argument(
        "--keep-reporting",
        action="store_true",
        help="with --every: after an inconsistency keep checking, logging an ERROR line and "
        "counting it every round, and exit 1 when stopped (for a deployed monitor whose "
        "metrics must stay up); without it the first inconsistency ends the run",
    )
    parser.add_argument(
        "--ref",
        action="append",
        default=[],
        metavar="REF",
        help="an entry (receipt id, assistance request id, licence event reference) whose "
        "inclusion is checked in each head, at the same index with the same hash (repeatable)",
    )
    parser.add_argument(
        "--recent",
        type=int,
        default=32,
        metavar="N",
        help="spot-check the newest N entries of each head (leaf hash, inclusion) and the "
        "signed status chains of the licences they changed (needs a supervisor's certificate; "
        "0: none; default 32, at most 100)",
    )
    parser.add_argument(
        "--server-name",
        metavar="NAME",
        help="the name the server's certificate is checked against, when --address is another "
        "(e.g. --address verifier:50051 --server-name localhost in compose with the dev PKI)",
    )
    parser.add_argument(
        "--metrics-listen", metavar="HOST:PORT", help="serve Prometheus metrics over HTTP here"
    )
    parser.add_argument(
        "--metrics-file",
        type=Path,
        metavar="FILE",
        help="write the metrics here after each round (node_exporter textfile collector)",
    )


def cmd_audit_monitor(ctx: Context) -> int:
    """Check the log's signed heads against those kept in ``--state``, once or ``--every``."""
    config = replace(ctx.config(), server_name=ctx.args.server_name or None)

    def connect() -> YihaoClient:
        """A new client in place of the last (a fresh channel after an unreachable server)."""
        if ctx._client is not None:
            ctx._client.close()
        try:
            ctx._client = YihaoClient(
                config, retry=ctx.retry_policy(), staff=getattr(ctx.args, "staff", None)
            )
        except YihaoError as exc:
            raise SetupError(exc) from exc
        return ctx._client

    monitor_module = "services.audit_monitor"
    if not 0 <= ctx.args.recent <= 100:
        raise SetupError(InvalidArgument.field("recent", "must be between 0 and 100", "RANGE"))
    monitor = server_part(monitor_module, "Monitor")(
        connect(), ctx.args.state, ctx.args.ref, ctx.args.recent
    )
    loop = server_part(monitor_module, "Loop")(monitor, ctx.args.metrics_file, connect)
    handler = logging.StreamHandler(ctx.out.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("yihao.audit.monitor")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if ctx.args.metrics_listen:
        loop.serve_metrics(ctx.args.metrics_listen)
    if ctx.args.every is not None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: loop.stop())
    try:
        code: int = loop.run(ctx.args.every, ctx.args.keep_reporting)
    finally:
        logger.removeHandler(handler)
    return code
