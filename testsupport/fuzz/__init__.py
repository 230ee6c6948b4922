"""A property-based fuzzer for every RPC, driven by the proto descriptors (see tests/test_fuzz.py).

* :mod:`.values` — the RPCs, hostile strings, valid and broken identifiers, the pool of
  values a running server knows;
* :mod:`.templates` — a valid request per RPC, for the fuzzer to mutate;
* :mod:`.fuzzer` — Hypothesis strategies for any request message;
* :mod:`.harness` — calls and their outcomes, known bugs, a seeded server to aim at.
"""
