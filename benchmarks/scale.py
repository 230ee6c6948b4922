"""Scale: cost per call as the store grows, import rate, and one vs two worker processes.

Run: ``.venv/bin/python -m benchmarks.scale [--sizes 10000,1000000,10000000]
[--backends sqlite,postgresql] [--calls N] [--keep DIR [--load-only]]``

Each backend gets one store per size. Licences come from the data generator
(``benchmarks.datagen``: four licence types, valid holder numbers, realistic field data) and
are loaded through the real import path: ``ImportLicences`` streams, one per issuing
department, each from its own process, into a server (``--load-workers`` processes, default
2 on PostgreSQL and 1 on SQLite) on a durable store. ``--keep DIR`` keeps each store in
``DIR/<backend>-<size>`` and reuses it next time (``--load-only`` just builds them), since
ten million licences take a while. Each store is then measured through one server process
(started afresh on it), with the load from client processes (``--clients`` × ``--threads``,
one call in flight each) for:

* ``VerifyLicence`` of a random licence by type and number, the holder's number presented,
  as the service hall's counter;
* ``VerifyByHolder`` of a random person (three licences each; the counter verifies the two
  that need no consent grant);
* ``ListLicencesByHolder`` of the same kind of holder, as the holder portal (all three);

reporting server CPU per call (from /proc) and p50/p99 latency at that concurrency. Then on
the smallest size of the first backend, ``VerifyLicence`` at saturation with ``yihao serve
--workers 1`` and ``--workers 2``: throughput and server CPU per call.

Prints a table as it goes and ends with one JSON line: ``<figure>_<backend>_<size>`` for
``verify_cpu_us_per_call``, ``verify_p99_ms``, ``verify_by_holder_cpu_us_per_call``,
``verify_by_holder_p99_ms``, ``list_by_holder_cpu_us_per_call``, ``list_by_holder_p99_ms``;
``import_per_s_<backend>`` (20,000 licences into an empty store, measured in this run,
``load_per_s_<backend>_<size>`` being how fast each store was filled, maybe in another run),
``verify_cpu_growth_<backend>`` (cost per call
at the largest size over the smallest), and ``workers_1_per_s``, ``workers_2_per_s``,
``workers_2_vs_1_throughput_ratio``, ``workers_{1,2}_cpu_us_per_call``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import datagen, load
from benchmarks.scale_plans import CALLERS, PLANS
from clients.client import YihaoClient
from clients.importfile import build_record
from clients.retry import RetryPolicy
from services.app import build_app, load_sealer
from services.common.config import load_settings
from services.reseal import reseal_all
from testsupport.processes import PostgresServer, free_port
from testsupport.serverproc import ServerProcess, client_channel, server_process, tree_cpu_seconds
from yihao.v1 import licence_store_pb2 as store_pb

IMPORT_TIMEOUT = 24 * 3600.0
WORKER_COMPARISON_CALLS = 4000
IMPORT_SAMPLE = 20_000  # licences imported into an empty store for import_per_s_<backend>
FILL_STEP = 500_000  # licences loaded between two progress records of a kept store


# --- loading (each issuer's stream in its own process) ----------------------------------------


@dataclass(frozen=True)
class Stream:
    """One issuer's share of a load: licences ``start`` .. ``stop - 1`` of its slot."""

    port: int
    var_dir: str
    slot: int
    start: int
    stop: int
    generation: int  # of the data generator's persons


def _import_stream(stream: Stream) -> tuple[int, int, list[str], float]:
    """Run one import stream through the client library's resumable import (what
    ``yihao import`` uses: it rides out UNAVAILABLE by re-sending unanswered records);
    (accepted, duplicates, problems, seconds). Errors come back as text (RPC errors do not
    pickle)."""
    alias = datagen.ISSUERS_BY_SLOT[stream.slot]
    first = stream.start + (stream.slot - stream.start) % datagen.SLOTS

    def records() -> Iterator[store_pb.ImportRecord]:
        for i in range(first, stream.stop, datagen.SLOTS):
            _alias, record = datagen.licence(i, stream.generation)
            fields = record.pop("fields")
            yield build_record(i + 1, record, fields)

    channel = client_channel(Path(stream.var_dir), stream.port, alias)
    client = YihaoClient(channel)
    accepted = duplicates = 0
    problems: list[str] = []
    started = time.monotonic()
    try:
        policy = RetryPolicy(deadline=IMPORT_TIMEOUT)
        for result in client.import_licences_resumable(records(), policy=policy):
            if result.outcome == store_pb.IMPORT_OUTCOME_ACCEPTED:
                accepted += 1
            elif result.outcome == store_pb.IMPORT_OUTCOME_DUPLICATE:
                duplicates += 1
            else:
                problems.append(f"line {result.line}: {result.reason_code} {result.reason}")
    except Exception as exc:
        problems.append(f"{alias} stream: {load.describe(exc)}")
    finally:
        channel.close()
    return accepted, duplicates, problems[:5], time.monotonic() - started


def load_licences(server: ServerProcess, start: int, stop: int, generation: int) -> float:
    """Load licences ``start`` .. ``stop - 1``; licences per second (wall clock)."""
    streams = [
        Stream(server.port, str(server.var_dir), slot, start, stop, generation)
        for slot in range(datagen.SLOTS)
    ]
    began = time.monotonic()
    with mp.get_context("spawn").Pool(len(streams)) as pool:
        results = pool.map(_import_stream, streams)
    seconds = time.monotonic() - began
    stored = sum(accepted + dup for accepted, dup, _, _ in results)
    problems = [p for _, _, rejected, _ in results for p in rejected]
    if problems or stored != stop - start:
        raise SystemExit(f"import stored {stored} of {stop - start}: {problems}")
    return (stop - start) / seconds


@dataclass
class Store:
    """One store of ``size`` licences: its database, the server's var dir (keys, PKI), how
    many licences it holds, and how fast they were loaded (kept in ``state``)."""

    name: str
    size: int
    url: str | None
    var_dir: Path
    db_cpu: Callable[[], float]
    state: Path

    @property
    def loaded(self) -> int:
        return int(self._state().get("loaded", 0))

    @property
    def load_rate(self) -> float:
        return float(self._state().get("rate", 0.0))

    @property
    def generation(self) -> int:
        """The data generator's generation the store was loaded with: the current one for a
        new store, 1 for a store kept before generations were recorded."""
        state = self._state()
        return int(state.get("generation", 1 if state.get("loaded") else datagen.GENERATION))

    def _state(self) -> dict[str, Any]:
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    def record(self, loaded: int, rate: float) -> None:
        state = {"loaded": loaded, "rate": rate, "generation": self.generation}
        self.state.write_text(json.dumps(state))


@contextmanager
def open_store(name: str, size: int, keep: Path | None) -> Iterator[Store]:
    """The store for ``size`` licences on backend ``name``: in ``keep``/<name>-<size> (made
    the first time, reused after), or throw-away. For PostgreSQL, ``db_cpu`` reads the CPU
    seconds of the postmaster and its backends; SQLite runs inside the server process."""
    base = keep / f"{name}-{size}" if keep else Path(tempfile.mkdtemp(prefix=f"yihao-{name}-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        if name == "sqlite":
            yield Store(name, size, None, base / "var", lambda: 0.0, base / "state.json")
            return
        # A throw-away cluster makes (and gives the postgres user) a directory of its own.
        pg = PostgresServer(durable=True, directory=base / "pg" if keep else None).start()
        try:
            url = pg.create_database("bench", exist_ok=True)
            postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
            db_cpu = lambda: tree_cpu_seconds(postmaster)  # noqa: E731
            yield Store(name, size, url, base / "var", db_cpu, base / "state.json")
        finally:
            if keep:
                pg.stop()
            else:
                pg.cleanup()
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)


def store_bytes(url: str | None, var_dir: Path) -> int:
    """How many bytes the store takes on disk (tables, indexes, WAL; PostgreSQL: the
    database, not the server's shared files)."""
    if url is None:
        return sum(p.stat().st_size for p in var_dir.glob("yihao.db*"))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            size = conn.execute(sa.text("SELECT pg_database_size(current_database())"))
            return int(size.scalar_one())
    finally:
        engine.dispose()


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    calls: int
    clients: int
    threads: int
    warmup: int


def measure(
    server: ServerProcess,
    name: str,
    size: int,
    opts: Options,
    generation: int,
    db_cpu: Callable[[], float] = lambda: 0.0,
) -> load.Figures:
    """One RPC's figures at ``size`` from ``opts.clients`` client processes."""
    per_client = opts.calls // opts.clients + opts.warmup + 1
    figures = load.measure(
        server,
        load.jobs(
            server,
            CALLERS[name],
            PLANS[name],
            (size, per_client, generation),
            calls=opts.calls,
            processes=opts.clients,
            threads=opts.threads,
            warmup=opts.warmup,
        ),
        db_cpu,
    )
    if figures.problems:
        print(f"  {name}: unexpected answers, e.g. {figures.problems[:3]}", file=sys.stderr)
    return figures


def _row(label: str, f: load.Figures) -> str:
    db = f"  + database {f.db_cpu_us:>5.0f} µs" if f.db_cpu else ""
    return (
        f"  {label:<18} {f.cpu_us:>6.0f} µs CPU/call{db}  {f.per_s:>6.0f}/s  "
        f"p50 {f.ms(50):>6.2f} ms  p99 {f.ms(99):>7.2f} ms"
    )


def fill(store: Store, load_workers: int) -> None:
    """Load the store up to its size (a kept store resumes; re-sent licences are no-ops)."""
    if store.loaded >= store.size:
        print(f"{store.name} {store.size:>10,}: reusing the kept store", flush=True)
        return
    first, generation = store.loaded, store.generation
    began = time.monotonic()
    with server_process(
        store.url, var_dir=store.var_dir, port=free_port(), workers=load_workers
    ) as srv:
        # In steps, each recorded once stored: an interrupted load of a large store resumes
        # from its last step instead of re-sending everything.
        for start in range(first, store.size, FILL_STEP):
            stop = min(start + FILL_STEP, store.size)
            load_licences(srv, start, stop, generation)
            rate = (stop - first) / (time.monotonic() - began)
            store.record(stop, rate)
            if stop < store.size:
                print(
                    f"{store.name} {store.size:>10,}: {stop:,} loaded ({rate:,.0f}/s)", flush=True
                )
    print(
        f"{store.name} {store.size:>10,}: loaded at {rate:,.0f}/s ({datagen.SLOTS} streams, "
        f"{load_workers} server processes)",
        flush=True,
    )


def settle(store: Store) -> None:
    """Do the store's one-off background work before it is measured, in this process with the
    server's code: a re-seal pass (a no-op once marked done) and a signed log head (the first
    one on a store from before heads kept their frontier reads every leaf). A server started
    on the store would otherwise do them in the first minute, inside the measurement."""
    env = {"YIHAO_VAR_DIR": str(store.var_dir), "YIHAO_LOG_LEVEL": "WARNING"}
    settings = load_settings({**env, **({"DATABASE_URL": store.url} if store.url else {})})
    app = build_app(settings)
    try:
        reseal_all(app.db, app.vault, load_sealer(settings), app.clock.now())
        app.verifier.transparency.tree_head(fresh=True)
    finally:
        app.close()


def run_backend(
    name: str,
    sizes: list[int],
    opts: Options,
    load_workers: int,
    keep: Path | None,
    figures: dict[str, Any],
) -> None:
    """One store per size, loaded then measured; figures go into ``figures``."""
    for size in sizes:
        with open_store(name, size, keep) as store:
            fill(store, load_workers)
            settle(store)
            on_disk = store_bytes(store.url, store.var_dir)
            print(f"  {on_disk / size:,.0f} bytes per licence on disk", flush=True)
            figures[f"load_per_s_{name}_{size}"] = round(store.load_rate)
            figures[f"store_bytes_per_licence_{name}_{size}"] = round(on_disk / size)
            with server_process(store.url, var_dir=store.var_dir, port=free_port()) as srv:
                for rpc in PLANS:
                    f = measure(srv, rpc, size, opts, store.generation, store.db_cpu)
                    print(_row(rpc, f), flush=True)
                    key = f"{name}_{size}"
                    figures[f"{rpc}_cpu_us_per_call_{key}"] = round(f.cpu_us, 1)
                    if f.db_cpu:
                        figures[f"{rpc}_db_cpu_us_per_call_{key}"] = round(f.db_cpu_us, 1)
                    figures[f"{rpc}_p99_ms_{key}"] = round(f.ms(99), 2)
                    figures[f"{rpc}_per_s_{key}"] = round(f.per_s)
    with open_store(name, IMPORT_SAMPLE, None) as fresh:
        fill(fresh, load_workers)
        figures[f"import_per_s_{name}"] = round(fresh.load_rate)
    largest = sizes[-1]
    if largest != sizes[0]:
        growth = (
            figures[f"verify_cpu_us_per_call_{name}_{largest}"]
            / figures[f"verify_cpu_us_per_call_{name}_{sizes[0]}"]
        )
        figures[f"verify_cpu_growth_{name}"] = round(growth, 2)
        print(f"  VerifyLicence CPU per call at {largest:,} / at {sizes[0]:,}: {growth:.2f}")


def compare_workers(
    name: str, size: int, opts: Options, keep: Path | None, figures: dict[str, Any]
) -> None:
    """VerifyLicence at saturation with one and with two server processes, same data."""
    saturate = Options(WORKER_COMPARISON_CALLS, opts.clients * 2, opts.threads * 2, opts.warmup)
    runs: dict[int, list[load.Figures]] = {1: [], 2: []}
    with open_store(name, size, keep) as store:
        fill(store, _load_workers(name, None))
        settle(store)
        for workers in (1, 2, 2, 1):  # alternated, so a noisy neighbour hits both alike
            with server_process(
                store.url, var_dir=store.var_dir, port=free_port(), workers=workers
            ) as srv:
                f = measure(srv, "verify", size, saturate, store.generation)
            print(_row(f"{workers} worker(s)", f), flush=True)
            runs[workers].append(f)
    for workers, measured in runs.items():
        calls = sum(f.calls for f in measured)
        figures[f"workers_{workers}_per_s"] = round(calls / sum(f.seconds for f in measured))
        figures[f"workers_{workers}_cpu_us_per_call"] = round(
            sum(f.server_cpu for f in measured) / calls * 1e6, 1
        )
    ratio = figures["workers_2_per_s"] / figures["workers_1_per_s"]
    figures["workers_2_vs_1_throughput_ratio"] = round(ratio, 2)
    print(f"  VerifyLicence throughput, 2 workers / 1 worker: {ratio:.2f}", flush=True)


def _load_workers(backend: str, asked: int | None) -> int:
    return asked if asked is not None else (1 if backend == "sqlite" else 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000,10000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per RPC")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per client process")
    parser.add_argument("--warmup", type=int, default=100, help="calls per client, unmeasured")
    parser.add_argument(
        "--load-workers",
        type=int,
        help="server processes to load into (default: 2 on PostgreSQL, 1 on SQLite, whose one "
        "writer at a time leaves a second process waiting for the lock)",
    )
    parser.add_argument("--no-workers", action="store_true", help="skip the 1 vs 2 workers run")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="keep each loaded store in DIR/<backend>-<size> and reuse it on the next run",
    )
    parser.add_argument("--load-only", action="store_true", help="load the stores, measure nothing")
    args = parser.parse_args()
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",")})
    opts = Options(args.calls, args.clients, args.threads, args.warmup)
    figures: dict[str, Any] = {}
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(
        f"sizes {sizes}, {opts.clients} client processes × {opts.threads} threads "
        f"({opts.clients * opts.threads} calls in flight), {opts.calls} calls per RPC",
        flush=True,
    )
    if args.load_only:
        for name in backends:
            for size in sizes:
                with open_store(name, size, args.keep) as store:
                    fill(store, _load_workers(name, args.load_workers))
        return
    for name in backends:
        run_backend(name, sizes, opts, _load_workers(name, args.load_workers), args.keep, figures)
    if not args.no_workers:
        print(f"workers ({backends[0]}, {sizes[0]:,} licences, VerifyLicence at saturation)")
        compare_workers(backends[0], sizes[0], opts, args.keep, figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
