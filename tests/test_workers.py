"""`yihao serve --workers 2`: two processes share one port, both answer, and SIGTERM stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from services.bootstrap import load_demo
from services.common.config import load_settings
from services.common.ratelimit import DEFAULT_LIMITS
from testsupport.processes import free_port
from testsupport.serverproc import ServerProcess, _wait_healthy, children, cpu_ticks
from testsupport.stack import dev_pki
from yihao.v1 import common_pb2, common_pb2_grpc


def test_two_workers_share_the_port_and_stop_together(tmp_path):
    var = tmp_path / "var"
    dev_pki(var / "pki")
    port = free_port()
    env = {
        **os.environ,
        "YIHAO_VAR_DIR": str(var),
        "YIHAO_LISTEN": f"127.0.0.1:{port}",
        "YIHAO_LOG_LEVEL": "WARNING",
        "YIHAO_GRACE_SECONDS": "5",
        "YIHAO_RATE_LIMITS": json.dumps({k: [1e6, 10**6] for k in DEFAULT_LIMITS}),
    }
    load_demo(load_settings(env))
    proc = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "serve", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        server = ServerProcess(proc, port, var)
        _wait_healthy(server)
        workers = [
            p
            for p in children(proc.pid)
            if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
        ]
        before = {p: cpu_ticks(p) for p in workers}
        for _ in range(60):  # fresh connections: the kernel spreads them over the workers
            with server.channel("hall") as channel:
                for _ in range(20):
                    common_pb2_grpc.DiagnosticsStub(channel).Ping(common_pb2.PingRequest())
        busy = [p for p in workers if cpu_ticks(p) - before[p] > 0]
        assert len(workers) == 2
        assert len(busy) >= 2, "only one worker served"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not [p for p in workers if Path(f"/proc/{p}").exists()]
    finally:
        if proc.poll() is None:
            proc.kill()
