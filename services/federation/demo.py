"""Several Yihao regions on one machine, federated: each its own database, department PKI,
federation identity and keys (``yihao federation demo``, the tests and the benchmark).

Each region gets, beside the demo catalogue, two departments of its own with credit codes in
its division (``market-<code>``: operator and handler; ``hall-<code>``: handler) and a licence
type its market defines and issues, so a licence issued in a region is owned by that region.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from stdnum.cn import uscc

from services.bootstrap import load_demo
from services.common.config import Settings, load_settings
from services.common.errors import AlreadyExists, FailedPrecondition
from services.common.identifiers import HolderKind
from services.common.pki import init_dev_pki
from services.common.roles import Role
from services.federation.setup import init_identity, peer_entry, region_card, write_config
from services.licence_store import demo
from services.licence_store.domain.catalogue import FieldSpec, FieldType, LicenceType

_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
SERVING = health_pb2.HealthCheckResponse.SERVING


def credit_code(division: str, seed: str) -> str:
    """A valid government credit code (authority 1, category 1) in ``division`` (6 digits)."""
    digest = hashlib.sha256(f"{division}/{seed}".encode()).hexdigest()
    body = "".join(str(int(c, 16) % 10) for c in digest[:8])
    check = 11 - sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11
    code17 = "11" + division + body + {10: "X", 11: "0"}.get(check, str(check))
    return code17 + uscc.calc_check_digit(code17)


@dataclass
class Region:
    """One region prepared on disk. ``host``: where peers reach its federation listener
    (``region-<code>`` in deploy/compose.federation.yaml); ``listen_host``: what it binds."""

    code: str
    name: str
    var_dir: Path
    port: int
    federation_port: int
    database_url: str | None
    card: dict[str, Any] = field(default_factory=dict)
    host: str = "127.0.0.1"
    listen_host: str = "127.0.0.1"

    @property
    def division(self) -> str:
        return self.code.ljust(6, "0")

    @property
    def market(self) -> str:
        """Credit code of the region's market department (operator, handler)."""
        return credit_code(self.division, "market")

    @property
    def hall(self) -> str:
        """Credit code of the region's service hall (handler)."""
        return credit_code(self.division, "hall")

    @property
    def licence_type(self) -> str:
        """The licence type the region's market issues."""
        return self.market + "001"

    def settings(self, **env: str) -> Settings:
        return load_settings(
            {
                "YIHAO_VAR_DIR": str(self.var_dir),
                "YIHAO_LISTEN": f"127.0.0.1:{self.port}",
                **({"DATABASE_URL": self.database_url} if self.database_url else {}),
                **env,
            }
        )

    def channel(self, credit_code: str) -> grpc.Channel:
        """A department's mTLS channel to this region's departments' port."""
        pki = self.var_dir / "pki"
        creds = grpc.ssl_channel_credentials(
            (pki / "ca.crt").read_bytes(),
            (pki / "clients" / f"{credit_code}.key").read_bytes(),
            (pki / "clients" / f"{credit_code}.crt").read_bytes(),
        )
        return grpc.secure_channel(f"127.0.0.1:{self.port}", creds)

    @property
    def config_file(self) -> Path:
        return self.var_dir / "federation" / "federation.json"


def _catalogue(region: Region) -> None:
    from services.app import build_app

    app = build_app(region.settings())
    try:
        catalogue = app.store().catalogue
        catalogue.register_department(
            region.market,
            f"{region.name}市场监督管理局",
            region.division,
            [Role.OPERATOR, Role.HANDLER, Role.PROVIDER],
        )
        catalogue.register_department(
            region.hall,
            f"{region.name}政务服务中心",
            region.division,
            [Role.HANDLER, Role.REQUESTER],
        )
        with contextlib.suppress(AlreadyExists):  # prepared before
            catalogue.register_licence_type(
                LicenceType(
                    type_code=region.licence_type,
                    name=f"营业执照（{region.name}）",
                    holder_kind=HolderKind.ORGANISATION,
                    fields=(FieldSpec("address", "住所", FieldType.STRING, True, False, 512),),
                    issuer_codes=frozenset({region.market}),
                )
            )
    finally:
        app.close()


def prepare(
    code: str,
    name: str,
    base: Path,
    database_url: str | None = None,
    ports: tuple[int, int] | None = None,
    *,
    compose: bool = False,
) -> Region:
    """A region's files, database, catalogue, keys and card (not yet federated or running);
    ``ports``: (departments', federation), free ones by default. ``compose``: for
    deploy/compose.federation.yaml (host ``region-<code>``, ports 50051 and 7443 inside its
    container)."""
    var_dir = base / f"region-{code}"
    port, federation_port = (50051, 7443) if compose else ports or (free_port(), free_port())
    region = Region(code, name, var_dir, port, federation_port, database_url)
    if compose:
        region.host, region.listen_host = f"region-{code}", "0.0.0.0"
    departments = [(d.credit_code, d.name) for d in demo.DEPARTMENTS]
    departments += [(region.market, f"{name} market"), (region.hall, f"{name} hall")]
    init_dev_pki(var_dir / "pki", departments)
    settings = region.settings()
    init_identity(settings, code, list(dict.fromkeys(["localhost", "127.0.0.1", region.host])))
    load_demo(settings)
    _catalogue(region)
    region.card = region_card(settings, code, name, f"{region.host}:{region.federation_port}")
    return region


def federate(regions: Sequence[Region], **policy: Any) -> None:
    """Write each region's federation file with every other region as a peer."""
    for region in regions:
        directory = region.var_dir / "federation"
        peers = [peer_entry(o.card, directory, **policy) for o in regions if o is not region]
        write_config(
            region.settings(),
            region.code,
            region.name,
            f"{region.listen_host}:{region.federation_port}",
            peers,
        )


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The demo's fixed ports: (departments', federation) per region.
DEMO_PORTS = {"35": (50061, 50071), "31": (50062, 50072)}


def _start(region: Region) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "YIHAO_VAR_DIR": str(region.var_dir),
        "YIHAO_LISTEN": f"127.0.0.1:{region.port}",
        "YIHAO_FEDERATION_FILE": str(region.config_file),
        "YIHAO_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "services.server"], env=env)


def _wait_healthy(region: Region, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    stub = health_pb2_grpc.HealthStub(region.channel(region.hall))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == SERVING:
                return
        except grpc.RpcError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise FailedPrecondition(
                f"region {region.code} did not start", reason="DEMO_REGION_DID_NOT_START"
            )
        time.sleep(0.3)


def issue_example(region: Region) -> str:
    """Issue (or find again: same idempotency key) one example licence; its identifier."""
    from yihao.v1 import common_pb2, licence_store_pb2, licence_store_pb2_grpc

    store = licence_store_pb2_grpc.LicenceStoreStub(region.channel(region.market))
    licence = store.IssueLicence(
        licence_store_pb2.IssueLicenceRequest(
            idempotency_key=f"federation-demo-{region.code}-0001",
            type_code=region.licence_type,
            licence_number=f"{region.code}-DEMO-0001",
            holder=common_pb2.Holder(
                kind=common_pb2.HOLDER_KIND_ORGANISATION,
                number=credit_code(region.division, "holder-demo"),
                name="示例科技有限公司",
            ),
            fields={"address": "示例路1号"},
        ),
        timeout=10,
    )
    return str(licence.licence_id)


def _instructions(a: Region, b: Region, licence_id: str) -> str:
    return (
        f"Two regions are running: {a.name} ({a.code}) on 127.0.0.1:{a.port} and "
        f"{b.name} ({b.code}) on 127.0.0.1:{b.port}, federated on ports "
        f"{a.federation_port} and {b.federation_port}.\n"
        f"A licence issued in {a.code}: {licence_id}\n"
        f"Verify it at a counter in {b.code} (forwarded to {a.code}, both receipts kept):\n"
        f"  .venv/bin/yihao --var-dir {b.var_dir} --address 127.0.0.1:{b.port} "
        f"--as {b.hall} verify {licence_id}\n"
        f"Revoke it in {a.code}, then verify again in {b.code}: REVOKED at once.\n"
        f"  .venv/bin/yihao --var-dir {a.var_dir} --address 127.0.0.1:{a.port} "
        f"--as {a.market} revoke {licence_id} --reason FRAUD\n"
        "Stop with Ctrl-C."
    )


def run_demo(
    directory: str | Path,
    *,
    prepare_only: bool = False,
    compose: bool = False,
    supervisors: bool = False,
) -> None:
    """Prepare and start two federated regions (35 福建省, 31 上海市) until Ctrl-C; with
    ``prepare_only``, only write their files (``compose``: for compose.federation.yaml;
    ``supervisors``: each lets the other's supervisors urge requests sent to it)."""
    base = Path(directory)
    a = prepare("35", "福建省", base, ports=DEMO_PORTS["35"], compose=compose)
    b = prepare("31", "上海市", base, ports=DEMO_PORTS["31"], compose=compose)
    federate([a, b], supervisors=supervisors)
    if prepare_only:
        print(f"regions 35 and 31 prepared in {base}", flush=True)
        return
    procs = [(r, _start(r)) for r in (a, b)]
    try:
        for region, proc in procs:
            _wait_healthy(region, proc)
        print(_instructions(a, b, issue_example(a)), flush=True)
        while all(proc.poll() is None for _, proc in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in procs:
            proc.wait(timeout=30)
