"""The hostile-input property, bounded: a few thousand descriptor-built requests against a real
server, none answered INTERNAL or UNKNOWN, and the server serves ordinary callers afterwards.

The longer run is a command: ``python -m testsupport.hostile --requests 50000`` (see
:mod:`testsupport.hostile`), which prints the counts by status code.
"""

from __future__ import annotations

from testsupport import hostile
from testsupport.serverproc import server_process

REQUESTS = 3000
BUDGET_SECONDS = 50.0


def test_every_rpc_is_covered():
    assert len(list(hostile.methods())) == len(hostile.POLICY)


def test_hostile_requests_never_get_internal_or_unknown():
    with server_process(None) as server:
        result = hostile.run(server, REQUESTS, invalid_utf8=True, budget_seconds=BUDGET_SECONDS)
        problems = hostile.still_serving(server)
    print(result.report())
    assert result.requests >= 300, result.report()  # a real run, even on a loaded machine
    assert result.ok, result.report()
    assert not problems
