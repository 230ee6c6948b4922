"""The three regions the federation tests share (package scope: started once): A (35) on
PostgreSQL, B (31) and C (44) on SQLite, each a separate server process with its own PKIs.
A and B run throughout; C runs only inside the tests that need it (one of them stops it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from testsupport.regions import Region, federate, prepare, running

#: Region A's rate limit for each peer region's forwarded questions (per item): small, so a
#: test can spend it; the other tests stay well inside it.
A_FEDERATED_LIMIT = (5, 40)


@pytest.fixture(scope="package")
def regions(tmp_path_factory, postgres) -> Iterator[tuple[Region, Region, Region]]:
    base = tmp_path_factory.mktemp("regions")
    a = prepare("35", "福建省", base, postgres.create_database("region_35"))
    b = prepare("31", "上海市", base)
    c = prepare("44", "广东省", base)
    federate([a, b, c], timeout_seconds=1.0, breaker={"failures": 2, "open_seconds": 60})
    # A's policy for C's callers: VerifyLicence only, of A's licence type only
    config = json.loads(a.config_file.read_text())
    (peer,) = [p for p in config["peers"] if p["region"] == "44"]
    peer["allow"] = {"rpcs": ["VerifyLicence"], "licence_types": [a.licence_type]}
    # A lets B's supervisors urge the requests B's departments sent to A (C's may not)
    (peer,) = [p for p in config["peers"] if p["region"] == "31"]
    peer["allow"]["supervisors"] = True
    a.config_file.write_text(json.dumps(config))
    # B sends references by type and number of A's licence type to A
    config = json.loads(b.config_file.read_text())
    (peer,) = [p for p in config["peers"] if p["region"] == "35"]
    peer["licence_types"] = [a.licence_type]
    b.config_file.write_text(json.dumps(config))
    with ExitStack() as stack:
        for r in (a, b):  # C runs only inside the test that stops it
            env = (
                {"YIHAO_RATE_LIMITS": json.dumps({"federated": A_FEDERATED_LIMIT})}
                if r is a
                else {"YIHAO_FEDERATION_PULL_SECONDS": "2"}  # B pulls decisions often
            )
            stack.enter_context(running(r, log_file=base / f"{r.code}.log", **env))
        yield a, b, c
