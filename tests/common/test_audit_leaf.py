"""The bytes a log leaf hashes: written out directly, and exactly the canonical JSON that
every verifier of the log (``clients/log_proof.py``, ``yihao audit verify``) recomputes."""

from __future__ import annotations

import pytest
import rfc8785

from services.common import audit_log, merkle
from services.common.audit_log import Entry
from services.common.signing import canonical_json

TEXTS = [
    "receipt",
    "R20261205120000ABCDEF0123456789",
    "",
    'quote " and backslash \\ and slash /',
    "controls \x00\x01\x08\t\n\x0c\r\x1f and DEL \x7f",
    "电子证照 营业执照 · ü é",
    "an emoji 🧾 beyond the BMP",
    "\u2028 line and paragraph \u2029 separators",
]


@pytest.mark.parametrize("text", TEXTS)
def test_leaf_data_is_the_canonical_json_of_the_entry(text: str) -> None:
    for entry in (Entry(text, "ref", "ab" * 32), Entry("access", text, "cd" * 32)):
        fields = {"kind": entry.kind, "ref": entry.ref, "sha256": entry.payload_sha256}
        assert audit_log.leaf_data(entry) == rfc8785.dumps(fields)
        assert audit_log.leaf_data(entry) == canonical_json(fields)


def test_a_leaf_hash_is_pinned() -> None:
    # The log's existing leaves must keep verifying: this hash was made by rfc8785.
    entry = Entry("receipt", "R20261205120000ABCDEF0123456789", "ab" * 32)
    assert (
        merkle.leaf_hash(audit_log.leaf_data(entry)).hex()
        == "a17508c8cb6baf8a9852699ee3b36674d3c2690f34ad86e83884e0fea4897c35"
    )
