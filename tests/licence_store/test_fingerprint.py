"""An issue command's fingerprint is RFC 8785 JSON hashed, whichever serialiser path made it:
stored fingerprints must keep matching retries after the fast path was added."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.identifiers import HolderKind
from services.common.signing import sha256_hex
from services.licence_store.lifecycle import IssueCommand

text = st.text(max_size=12)  # includes lone surrogates, control and astral characters


@settings(max_examples=300)
@given(
    fields=st.dictionaries(text, text, max_size=5),
    number=text,
    name=text,
    kind=st.sampled_from([None, HolderKind.PERSON, HolderKind.ORGANISATION]),
)
def test_fingerprint_is_the_rfc8785_hash_of_the_request(fields, number, name, kind):
    cmd = IssueCommand(
        idempotency_key="key-12345",
        type_code="T",
        licence_number=number,
        holder_number="H",
        holder_name=name,
        fields=fields,
        holder_kind=kind,
        valid_from="2024-01-01",
    )
    body = {
        "type_code": "T",
        "licence_number": number,
        "holder_number": "H",
        "holder_name": name,
        "holder_kind": kind.value if kind else "",
        "fields": fields,
        "valid_from": "2024-01-01",
        "valid_until": "",
    }
    try:
        expected = sha256_hex(rfc8785.dumps(body))
    except rfc8785.CanonicalizationError:
        return  # not representable (a lone surrogate): refused on either path
    assert cmd.fingerprint == expected
