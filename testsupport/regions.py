"""Federated regions as server processes, for tests and the benchmark (see
:mod:`services.federation.demo` for how a region is prepared)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.federation.demo import Region, credit_code, federate, prepare
from testsupport.serverproc import ServerProcess, server_process
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as spb
from yihao.v1 import licence_store_pb2_grpc as spb_grpc

__all__ = [
    "Region",
    "credit_code",
    "federate",
    "holder_code",
    "issue",
    "prepare",
    "running",
]


@contextmanager
def running(region: Region, log_file: Path | None = None, **env: str) -> Iterator[ServerProcess]:
    """The region's server process, federated, until the block ends (``env``: more settings)."""
    with server_process(
        region.database_url,
        var_dir=region.var_dir,
        port=region.port,
        log_file=log_file,
        **{"YIHAO_FEDERATION_FILE": str(region.config_file), **env},
    ) as server:
        yield server


def holder_code(region: Region, n: int) -> str:
    """The credit code of the region's ``n``-th example organisation (a holder)."""
    return credit_code(region.division, f"holder-{n}")


def issue(region: Region, number: str, holder: str, type_code: str = "") -> str:
    """Issue a licence of the region's type (or ``type_code``) by its market; its id."""
    store = spb_grpc.LicenceStoreStub(region.channel(region.market))
    licence = store.IssueLicence(
        spb.IssueLicenceRequest(
            idempotency_key=secrets.token_hex(8),
            type_code=type_code or region.licence_type,
            licence_number=number,
            holder=common.Holder(
                kind=common.HOLDER_KIND_ORGANISATION, number=holder, name="示例有限公司"
            ),
            fields={"address": "某市某路1号"},
        ),
        timeout=10,
    )
    return str(licence.licence_id)
