"""The serving process's heap and Python's cyclic garbage collector: no long pauses mid-call.

CPython's collector holds the GIL while it walks a generation, so every call in flight waits
for it. A server's oldest generation holds what it loaded at start — modules, the
catalogue, SQLAlchemy's and protobuf's tables, gRPC: ~100,000 containers — and was walked
whenever enough objects had survived two younger collections. Under load that was every few
seconds (objects alive only because their call was in flight when a young collection ran
count as survivors): 2–3 walks in each 13-second run at half load, each 26–70 ms of CPU on
this project's machine (and longer on the wall clock when the machine is busy) — the largest
pauses in the p99 of ``VerifyLicence`` at half load. A VerifyBatch chunk makes thousands of
short-lived tuples, so young collections ran every few hundred items and the collector took
~12 % of a batch's CPU (``perf``).

:func:`settle` runs once, after the server is built and before it serves: a full collection,
then :func:`gc.freeze` moves every surviving object into the permanent generation, which the
collector no longer walks (it stays live for the process's life anyway; garbage cycles made
later are collected as before, and an object frozen at start that later becomes cyclic
garbage is only not reclaimed, never lost or damaged). A larger youngest-generation threshold
makes young collections, and with them the promotions of in-flight objects, ~14 times rarer.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("yihao.heap")

#: Allocations (net of deallocations) between youngest-generation collections (Python: 700).
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Collect once, freeze what survives (never walked again), and collect the young less
    often. Call once per process, after start-up and before serving."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    log.debug("heap settled: %d objects frozen", gc.get_freeze_count())
