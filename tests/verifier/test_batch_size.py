"""A VerifyBatch message of the documented maximum always fits its answer in one message.

The answer to a chunk is one message, and gRPC refuses a message over the limit (4 MiB) with
RESOURCE_EXHAUSTED for the whole stream. So the maximum number of items per message is the
largest count whose worst-case answers provably fit: every part of a ``Verification`` is
bounded (catalogue names, licence numbers, ``client_ref``, a malformed item's reason), and
``MAX_BATCH_ITEMS`` times the largest possible ``Verification`` stays under the limit. The
proof is checked twice: from the proto with every bounded field at its maximum, and through a
real server with a chunk of the maximum of the largest answers it can be made to give.
"""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.limits import MAX_MESSAGE_BYTES
from services.licence_store import demo
from services.licence_store.domain.catalogue import MAX_NAME_LENGTH
from services.verifier.messages import MAX_BATCH_ITEMS
from services.verifier.results import MAX_CLIENT_REF, MAX_REASON
from testsupport.processes import PostgresServer
from testsupport.serverproc import server_process
from yihao.v1 import common_pb2 as common
from yihao.v1 import licence_store_pb2 as pb
from yihao.v1 import verifier_pb2 as vpb
from yihao.v1 import verifier_pb2_grpc as vgrpc

#: U+20000 (CJK Extension B): a printable character four bytes long in UTF-8, the longest.
WIDE = "\U00020000"
MAX_LICENCE_NUMBER = 64
MARKET = demo.ALIASES["market"]
WIDE_TYPE = MARKET + "901"
ORGANISATION = "91350100M000100Y43"
CHECKS = ("existence", "reference_format", "status", "validity_dates", "signature")
CHECKS += ("issuer_key_period", "issuer_key_compromise")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _longest_verification() -> vpb.Verification:
    """A Verification with every field at the largest value the server can put there."""
    at = Timestamp(seconds=253402300799, nanos=999_999_999)  # 9999-12-31T23:59:59.999999999Z
    return vpb.Verification(
        verdict=vpb.VERDICT_CANNOT_CHECK,
        reason=WIDE * MAX_REASON,
        holder_number_match=vpb.HOLDER_MATCH_NOT_PRESENTED,
        holder_name_match=vpb.HOLDER_MATCH_NOT_PRESENTED,
        licence_id="1.2.156.3005.2." + "9" * 21 + "." + "9" * 18 + "." + "Z" * 32 + ".999.9",
        type_code="9" * 21,
        type_name=WIDE * MAX_NAME_LENGTH,
        licence_number=WIDE * MAX_LICENCE_NUMBER,
        issuer_code="9" * 18,
        issuer_name=WIDE * MAX_NAME_LENGTH,
        valid_from="9999-12-31",
        valid_until="9999-12-31",
        version=-1,  # an int32's longest encoding (ten bytes)
        signature_verified=True,
        signature_key_id="k" * 64,
        policy=vpb.Policy(
            checks=[*CHECKS],
            as_of=at,
        ),
        receipt_id="R" * 64,
        checked_at=at,
        client_ref=WIDE * MAX_CLIENT_REF,
        status_reason_code="Z" * 64,
        document_authentic=True,
        content_sha256="f" * 64,
    )


def test_the_maximum_of_the_largest_answers_fits_one_message():
    item = _longest_verification().ByteSize() + 4  # with its tag and length prefix
    envelope = 2 + 64 + 16  # receipt_id and prefixes
    assert MAX_BATCH_ITEMS * item + envelope <= MAX_MESSAGE_BYTES, (item, MAX_BATCH_ITEMS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_chunk_of_the_maximum_worst_case_items_is_answered(
    backend: str, request: pytest.FixtureRequest
):
    url = None
    if backend == "postgresql":
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database("batchsize")
    with server_process(url) as server:
        licence_id = _widest_licence(server)
        ref = WIDE * MAX_CLIENT_REF
        valid = vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id=licence_id),
            presented_holder_number="91110000600037341L",  # a MISMATCH, still answered
            presented_holder_name="某某",
            client_ref=ref,
        )
        past = vpb.VerifyLicenceRequest()
        past.CopyFrom(valid)
        past.as_of.GetCurrentTime()  # the full path (Result, not the fast path's Answer)
        malformed = vpb.VerifyLicenceRequest(
            licence=pb.LicenceRef(licence_id="1.2.156.3005.2." + WIDE * 300), client_ref=ref
        )
        items = [valid] * (MAX_BATCH_ITEMS - 20) + [past] * 10 + [malformed] * 10
        verifier = vgrpc.VerifierStub(server.channel("hall"))  # gRPC's default 4 MiB limit

        (answer,) = list(verifier.VerifyBatch(iter([vpb.VerifyBatchRequest(items=items)])))

        assert len(answer.results) == MAX_BATCH_ITEMS
        assert answer.ByteSize() <= MAX_MESSAGE_BYTES
        assert {r.verdict for r in answer.results[:-10]} == {vpb.VERDICT_VALID}
        assert answer.results[-1].reason.startswith("INVALID_REFERENCE")
        assert all(r.client_ref == ref for r in answer.results)

        with pytest.raises(grpc.RpcError) as refused:
            list(verifier.VerifyBatch(iter([vpb.VerifyBatchRequest(items=[*items, valid])])))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "items" in (refused.value.details() or "")


def _widest_licence(server: object) -> str:
    """A licence whose verification carries the longest names the catalogue allows."""
    admin = server.store("data")  # type: ignore[attr-defined]
    market = next(d for d in demo.DEPARTMENTS if d.alias == "market")
    admin.RegisterDepartment(
        pb.RegisterDepartmentRequest(
            credit_code=MARKET,
            name=WIDE * MAX_NAME_LENGTH,
            region=market.region,
            roles=[common.Role.Value(f"ROLE_{r.name}") for r in market.roles],
        )
    )
    admin.RegisterLicenceType(
        pb.RegisterLicenceTypeRequest(
            licence_type=pb.LicenceType(
                type_code=WIDE_TYPE,
                name=WIDE * MAX_NAME_LENGTH,
                holder_kind=common.HOLDER_KIND_ORGANISATION,
                fields=[pb.FieldSpec(name="note", label="备注", type=pb.FIELD_TYPE_STRING)],
                issuer_codes=[MARKET],
            )
        )
    )
    licence = server.store("market").IssueLicence(  # type: ignore[attr-defined]
        pb.IssueLicenceRequest(
            idempotency_key="widest-licence-1",
            type_code=WIDE_TYPE,
            licence_number=WIDE * MAX_LICENCE_NUMBER,
            holder=common.Holder(number=ORGANISATION, name="示例有限公司"),
        )
    )
    return str(licence.licence_id)
