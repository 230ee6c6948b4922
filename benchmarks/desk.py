"""The counter desk's added cost per verification, against a direct gRPC VerifyLicence.

Run: ``.venv/bin/python -m benchmarks.desk [--count N] [--rounds R] [--licences L]``

Three processes: the gRPC server (``python -m services.server``, SQLite, the demo catalogue,
``L`` business licences issued as "market"), the desk (``yihao web serve``, calling the server
over mutual TLS as the service hall, like ``make run``), and this one, which measures. In one
run, interleaved in ``R`` rounds of ``N`` calls each (so drift hits both alike), one call at a
time:

* **direct:** ``YihaoClient.verify_licence`` as "hall" naming the same staff member (the
  client library and the call the desk makes), by licence id with the holder's number
  presented;
* **desk:** the same verification as a handler's browser makes it — ``POST /counter`` with the
  form (CSRF token, a fresh idempotency key, the licence id, the holder's number) over one
  keep-alive HTTP connection, signed in as a handler — answered by the whole verdict page. Each
  page is checked (200, VALID, a receipt id).

The added cost is desk − direct: latency (p50, p90, p99, mean) and CPU per verification of
the desk process (from /proc), with the server's CPU per call in each phase for comparison —
as measured, and net of the server's background work (its CPU share while idle, measured for
3 s before the phases, times the phase's wall time), which a slower phase would otherwise be
charged for.
Prints a table, then as the last line one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from argon2 import PasswordHasher

from benchmarks.issue import request
from clients.client import YihaoClient
from clients.web.accounts import AccountStore
from clients.web.db import open_database
from testsupport.processes import free_port
from testsupport.serverproc import ServerProcess, server_process, tree_cpu_seconds
from yihao.v1 import verifier_pb2 as vpb

ACCOUNT, PASSWORD = "bench.handler", "bench-handler-password"
PURPOSE, CASE_NUMBER = "benchmark", "BENCH-2026-0001"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_RECEIPT = re.compile(r'id="receipt-id">(R\w+)<')


@dataclass
class Phase:
    """One kind of call's latencies (seconds) and the CPU the processes used meanwhile."""

    latencies: list[float] = field(default_factory=list)
    desk_cpu: float = 0.0
    server_cpu: float = 0.0
    seconds: float = 0.0  # wall time of the phase

    def ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def mean_ms(self) -> float:
        return 1000 * statistics.fmean(self.latencies)

    def per_call_us(self, cpu: float) -> float:
        return 1e6 * cpu / len(self.latencies)


class Browser:
    """A handler's browser, reduced to one keep-alive HTTP connection and a cookie."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def _send(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode()
        for value in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(value)
            for morsel in cookie.values():
                self.cookie = f"{morsel.key}={morsel.value}"
        return response.status, text

    def sign_in(self) -> str:
        """Sign in as the handler; the CSRF token of the counter form."""
        _, page = self._send("GET", "/signin")
        form = {"csrf_token": _token(page), "account": ACCOUNT, "password": PASSWORD}
        status, _ = self._send("POST", "/signin", form)
        if status != 303:
            raise RuntimeError(f"sign-in answered {status}")
        status, page = self._send("GET", "/counter")
        if status != 200:
            raise RuntimeError(f"/counter answered {status}")
        return _token(page)

    def verify(self, csrf: str, licence_id: str, holder: str) -> str:
        """One verification through the desk; the receipt id its page shows."""
        form = {
            "csrf_token": csrf,
            "idempotency_key": uuid.uuid4().hex,
            "licence": licence_id,
            "holder_number": holder,
            "holder_name": "",
            "purpose": PURPOSE,
            "case_number": CASE_NUMBER,
        }
        status, page = self._send("POST", "/counter", form)
        receipt = _RECEIPT.search(page)
        if status != 200 or 'data-verdict="valid"' not in page or receipt is None:
            raise RuntimeError(f"the desk answered {status} without a VALID verdict")
        return receipt.group(1)


def _token(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


@contextmanager
def desk_process(server: ServerProcess) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``yihao web serve`` in its own process, calling ``server``, with one handler account."""
    web_db = f"sqlite:///{server.var_dir / 'web.db'}"
    engine = open_database(web_db)
    # The cheapest Argon2id: the benchmark signs in once and measures verifications, not this.
    AccountStore(engine, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)).add(
        ACCOUNT, "基准 窗口", "hall", ("handler",), PASSWORD, now=time.time()
    )
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "YIHAO_VAR_DIR": str(server.var_dir),
        "YIHAO_ADDRESS": f"127.0.0.1:{server.port}",
        "YIHAO_WEB_DATABASE_URL": web_db,
        "YIHAO_WEB_DEPARTMENTS": "hall",
    }
    command = [sys.executable, "-m", "clients.cli", "web", "serve", "--listen"]
    proc = subprocess.Popen(
        [*command, f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the desk did not start")
            time.sleep(0.1)
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(count: int, rounds: int, licences: int) -> dict[str, float]:
    """The measurement; returns the figures (also printed as a table)."""
    with server_process(None) as server, desk_process(server) as (desk, port):
        store = server.store("market")
        tag = uuid.uuid4().hex[:8]
        targets = []
        for i in range(licences):
            issued = store.IssueLicence(request(tag, i))
            targets.append((issued.licence_id, issued.holder.number))
        # Like the desk's own calls: as the service hall, naming the staff member.
        client = YihaoClient(server.channel("hall"), staff=ACCOUNT)
        browser = Browser(port)
        csrf = browser.sign_in()

        def direct(i: int) -> None:
            licence_id, holder = targets[i % len(targets)]
            answer = client.verify_licence(
                licence=licence_id,
                presented_holder_number=holder,
                purpose=PURPOSE,
                case_number=CASE_NUMBER,
            )
            if answer.verdict != vpb.VERDICT_VALID or not answer.receipt_id:
                raise RuntimeError("direct call did not answer VALID with a receipt")

        def through_desk(i: int) -> None:
            licence_id, holder = targets[i % len(targets)]
            browser.verify(csrf, licence_id, holder)

        for i in range(min(50, count)):  # warm-up: connections, templates, caches
            direct(i)
            through_desk(i)
        # The server's own background work (log heads, sweeps, metrics) per second of wall
        # time, so that a slower phase is not charged for it as per-call cost.
        before, idle_start = server.cpu_seconds(), time.perf_counter()
        time.sleep(3.0)
        idle_rate = (server.cpu_seconds() - before) / (time.perf_counter() - idle_start)
        phases = {"direct": Phase(), "desk": Phase()}
        for _ in range(rounds):
            for name, call in (("direct", direct), ("desk", through_desk)):
                phase = phases[name]
                server_before = server.cpu_seconds()
                desk_before = tree_cpu_seconds(desk.pid)
                began = time.perf_counter()
                for i in range(count):
                    start = time.perf_counter()
                    call(i)
                    phase.latencies.append(time.perf_counter() - start)
                phase.seconds += time.perf_counter() - began
                phase.server_cpu += server.cpu_seconds() - server_before
                phase.desk_cpu += tree_cpu_seconds(desk.pid) - desk_before
        client.close()
    return _figures(phases["direct"], phases["desk"], idle_rate)


def _figures(direct: Phase, desk: Phase, idle_rate: float) -> dict[str, float]:
    figures: dict[str, float] = {
        "calls_each": float(len(direct.latencies)),
        "server_idle_cpu_share": round(idle_rate, 4),
    }
    for name, phase in (("direct", direct), ("desk", desk)):
        figures[f"{name}_p50_ms"] = round(phase.ms(0.50), 3)
        figures[f"{name}_p90_ms"] = round(phase.ms(0.90), 3)
        figures[f"{name}_p99_ms"] = round(phase.ms(0.99), 3)
        figures[f"{name}_mean_ms"] = round(phase.mean_ms, 3)
        figures[f"{name}_server_cpu_us"] = round(phase.per_call_us(phase.server_cpu), 1)
        net = phase.server_cpu - idle_rate * phase.seconds
        figures[f"{name}_server_cpu_net_us"] = round(phase.per_call_us(net), 1)
    figures["desk_process_cpu_us"] = round(desk.per_call_us(desk.desk_cpu), 1)
    figures["desk_added_p50_ms"] = round(figures["desk_p50_ms"] - figures["direct_p50_ms"], 3)
    figures["desk_added_mean_ms"] = round(figures["desk_mean_ms"] - figures["direct_mean_ms"], 3)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200, help="calls per phase per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--licences", type=int, default=50)
    args = parser.parse_args(argv)
    figures = run(args.count, args.rounds, args.licences)
    print(
        f"{'':8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'server µs':>10} "
        f"{'net µs':>8}"
    )
    for name in ("direct", "desk"):
        print(
            f"{name:8} {figures[f'{name}_p50_ms']:>8.2f} {figures[f'{name}_p90_ms']:>8.2f} "
            f"{figures[f'{name}_p99_ms']:>8.2f} {figures[f'{name}_mean_ms']:>8.2f} "
            f"{figures[f'{name}_server_cpu_us']:>10.0f} "
            f"{figures[f'{name}_server_cpu_net_us']:>8.0f}"
        )
    print(f"server idle: {100 * figures['server_idle_cpu_share']:.1f} % of a core (background)")
    print(
        f"desk added per verification: {figures['desk_added_p50_ms']:.2f} ms p50, "
        f"{figures['desk_added_mean_ms']:.2f} ms mean; desk process CPU "
        f"{figures['desk_process_cpu_us']:.0f} µs per verification"
    )
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
