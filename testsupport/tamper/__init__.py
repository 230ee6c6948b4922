"""The tamper suite's engine: edits a database-only attacker can make, tried against a running
server on SQLite and PostgreSQL, and the matrix of verdicts they got (``python -m
testsupport.tamper``; tests/tamper asserts the invariant on it)."""
