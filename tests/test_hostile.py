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
#: Full rounds over every RPC that a run sends whatever the budget: on a loaded machine the
#: run takes longer instead of proving less (5 rounds of 57 RPCs: 285 requests).
ROUNDS = 5


def test_every_rpc_is_covered():
    assert len(list(hostile.methods())) == len(hostile.POLICY)


def test_hostile_requests_never_get_internal_or_unknown():
    with server_process(None) as server:
        minimum = ROUNDS * len(list(hostile.methods()))
        result = hostile.run(
            server, REQUESTS, invalid_utf8=True, budget_seconds=BUDGET_SECONDS, at_least=minimum
        )
        # A spent budget stops a run at its floor, not before it.
        floor_only = hostile.run(server, REQUESTS, budget_seconds=0.0, at_least=57, seed_value=7)
        problems = hostile.still_serving(server)
    print(result.report())
    # A real run, even on a loaded machine: every RPC got hostile requests, round after round.
    assert result.requests >= minimum, result.report()
    covered = {path: result.per_method[path] for path, _ in hostile.methods()}
    assert min(covered.values()) >= ROUNDS, covered
    assert result.ok, result.report()
    assert floor_only.requests == 57 and floor_only.ok, floor_only.report()
    assert not problems
