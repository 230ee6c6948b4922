"""Federated regions as server processes, for tests and the benchmark (see
:mod:`services.federation.demo` for how a region is prepared)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.federation.demo import Region, credit_code, federate, prepare
from testsupport.serverproc import ServerProcess, server_process

__all__ = ["Region", "credit_code", "federate", "prepare", "running"]


@contextmanager
def running(region: Region, log_file: Path | None = None) -> Iterator[ServerProcess]:
    """The region's server process, federated, until the block ends."""
    with server_process(
        region.database_url,
        var_dir=region.var_dir,
        port=region.port,
        log_file=log_file,
        YIHAO_FEDERATION_FILE=str(region.config_file),
    ) as server:
        yield server
