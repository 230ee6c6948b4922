"""The calls :mod:`benchmarks.scale` measures, as plans the client processes run, and who
makes them (:data:`CALLERS`): VerifyLicence of random licences by type and number, the
holder's number presented, and VerifyByHolder of random persons, as the service hall's
counter; ListLicencesByHolder of random persons as the holder portal (a person's own list:
every licence, whole). Every answer is checked against what the generated store holds and
what the caller may see: a person holds three licences, and the counter verifies two of them
by number — the qualification certificate needs the holder's consent, which these calls do
not carry (docs/holders.md), so it is left out.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import grpc

from benchmarks import datagen, load
from services.licence_store import demo
from yihao.v1 import licence_store_pb2 as store_pb
from yihao.v1 import licence_store_pb2_grpc, verifier_pb2_grpc
from yihao.v1 import verifier_pb2 as pb

#: Who makes each measured call (a demo department alias).
CALLERS = {"verify": "hall", "verify_by_holder": "hall", "list_by_holder": "portal"}
#: A person's licences (every slot of a block but the business licence) ...
PERSON_LICENCES = datagen.SLOTS - 1
#: ... and those the counter verifies by the person's number without a consent grant.
VERIFIED_BY_NUMBER = sum(
    1
    for lt in (demo.RESIDENCE_PERMIT, demo.QUALIFICATION_CERTIFICATE, demo.MARRIAGE_CERTIFICATE)
    if not lt.consent_required
)
PURPOSE = "scale benchmark"
CASE_NUMBER = "BENCH-2026-0001"
RPC_TIMEOUT = 60.0


def _random_indexes(worker: int, size: int, count: int) -> list[int]:
    rng = random.Random(f"scale/{worker}/{size}")
    return [rng.randrange(size) for _ in range(count)]


def verify_plan(
    channel: grpc.Channel, worker: int, size: int, count: int, generation: int
) -> Callable[[int], str | None]:
    """VerifyLicence of random licences by type and number, the holder's number presented."""
    requests = []
    for i in _random_indexes(worker, size, count):
        _alias, record = datagen.licence(i, generation)
        requests.append(
            pb.VerifyLicenceRequest(
                licence=store_pb.LicenceRef(
                    type_and_number=store_pb.TypeAndNumber(
                        type_code=record["type_code"], licence_number=record["licence_number"]
                    )
                ),
                presented_holder_number=record["holder_number"],
                purpose=PURPOSE,
                case_number=CASE_NUMBER,
            )
        )
    verify = verifier_pb2_grpc.VerifierStub(channel).VerifyLicence

    def call(i: int) -> str | None:
        answer = verify(requests[i % len(requests)], timeout=RPC_TIMEOUT)
        if answer.verdict in (pb.VERDICT_NOT_FOUND, pb.VERDICT_CANNOT_CHECK) or (
            answer.holder_number_match != pb.HOLDER_MATCH_MATCH
        ):
            return f"{pb.Verdict.Name(answer.verdict)} {answer.reason} for {answer.licence_id}"
        return None

    return call


def _persons(worker: int, size: int, count: int, generation: int) -> list[str]:
    blocks = max(1, size // datagen.SLOTS)
    return [
        datagen.holder_of(b % blocks, False, generation)
        for b in _random_indexes(worker, blocks, count)
    ]


def verify_by_holder_plan(
    channel: grpc.Channel, worker: int, size: int, count: int, generation: int
) -> Callable[[int], str | None]:
    """VerifyByHolder of random persons (each holds three licences)."""
    requests = [
        pb.VerifyByHolderRequest(holder_number=number, purpose=PURPOSE, case_number=CASE_NUMBER)
        for number in _persons(worker, size, count, generation)
    ]
    verify = verifier_pb2_grpc.VerifierStub(channel).VerifyByHolder

    def call(i: int) -> str | None:
        answer = verify(requests[i % len(requests)], timeout=RPC_TIMEOUT)
        if len(answer.verifications) != VERIFIED_BY_NUMBER:
            return f"{len(answer.verifications)} verdicts, expected {VERIFIED_BY_NUMBER}"
        return None

    return call


def list_by_holder_plan(
    channel: grpc.Channel, worker: int, size: int, count: int, generation: int
) -> Callable[[int], str | None]:
    """ListLicencesByHolder of random persons."""
    requests = [
        store_pb.ListLicencesByHolderRequest(
            holder_number=number, purpose=PURPOSE, case_number=CASE_NUMBER
        )
        for number in _persons(worker, size, count, generation)
    ]
    list_licences = licence_store_pb2_grpc.LicenceStoreStub(channel).ListLicencesByHolder

    def call(i: int) -> str | None:
        answer = list_licences(requests[i % len(requests)], timeout=RPC_TIMEOUT)
        if len(answer.licences) != PERSON_LICENCES:
            return f"{len(answer.licences)} licences, expected {PERSON_LICENCES}"
        return None

    return call


PLANS: dict[str, load.Plan] = {
    "verify": verify_plan,
    "verify_by_holder": verify_by_holder_plan,
    "list_by_holder": list_by_holder_plan,
}
