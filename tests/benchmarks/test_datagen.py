"""The scale data generator: valid, unique, realistic records the real import path accepts."""

from __future__ import annotations

import json

import pytest

from benchmarks import datagen
from clients.importfile import build_record, read_records
from services.common.identifiers import HolderKind, parse_holder_number
from testsupport.imports import import_records
from testsupport.why import WHY
from yihao.v1 import licence_store_pb2 as store_pb
from yihao.v1 import verifier_pb2 as pb


def test_holder_numbers_pass_every_check_and_are_distinct():
    people = [datagen.person(p) for p in range(0, 2_000_000, 997)]
    assert len({person.number for person in people}) == len(people)
    for person in people:
        parsed = parse_holder_number(person.number)
        assert parsed.kind is HolderKind.PERSON
        assert parsed.value == person.number
        assert person.number[6:14] == f"{person.born:%Y%m%d}"
        assert (person.sex == "男") == (int(person.number[16]) % 2 == 1)
    codes = [datagen.credit_code(o) for o in range(0, 5_000_000, 4999)]
    for code in codes:
        assert parse_holder_number(code).kind is HolderKind.ORGANISATION
    assert len(set(codes)) == len(codes)


def test_every_person_of_a_region_gets_a_birth_date_and_sequence_of_their_own():
    # The numbering is a bijection on each region's 55 years × 998 sequence codes: persons
    # 0 .. 120,000 (ten million licences' holders fall in the first 140,000 of a region) and
    # the last ones before the capacity.
    last = datagen.PERSON_CAPACITY // len(datagen.REGIONS)
    qs = [*range(120_000), *range(last - 20_000, last)]
    pairs = {datagen._birth_and_sequence(q) for q in qs}
    assert len(pairs) == len(qs)
    assert all(1 <= sequence <= 998 for _born, sequence in pairs)
    assert min(born for born, _ in pairs).year == 1950
    assert max(born for born, _ in pairs).year == 2004
    with pytest.raises(ValueError, match="beyond"):
        datagen.person(datagen.PERSON_CAPACITY)


def test_spouses_are_other_persons_than_the_holders():
    holders = {datagen.holder_of(b, organisation=False) for b in range(2000)}
    spouses = {
        record["fields"]["spouse_id_number"]
        for i, (_, record) in enumerate(datagen.records(0, 8000))
        if i % datagen.SLOTS == 3
    }
    assert len(spouses) == 2000
    assert not holders & spouses


def test_generation_1_stores_keep_their_numbers():
    # Kept scale stores were loaded with generation 1; their queries must still find them.
    # The numbers below are what generation 1 generated before generation 2 existed.
    assert datagen.person(0, generation=1).number == "35010219500708064X"
    assert datagen.person(0, generation=1) != datagen.person(0)
    _alias, record = datagen.licence(7, generation=1)
    assert record["holder_number"] == "35010319800724187X"
    assert record["fields"]["spouse_id_number"] == "350902200103033488"


def test_records_are_deterministic_unique_and_spread_over_four_issuers():
    first = list(datagen.records(0, 4000))
    assert first == list(datagen.records(0, 4000))
    assert {alias for alias, _ in first} == set(datagen.ISSUERS_BY_SLOT)
    assert len({(r["type_code"], r["licence_number"]) for _, r in first}) == 4000
    block = [record for _, record in first[8:12]]
    assert len({r["holder_number"] for r in block[1:]}) == 1  # one person, three licences
    assert block[0]["holder_number"] == datagen.holder_of(2, organisation=True)
    assert block[1]["holder_number"] == datagen.holder_of(2, organisation=False)
    marriage = block[3]["fields"]
    assert parse_holder_number(marriage["spouse_id_number"]).kind is HolderKind.PERSON
    assert marriage["registered_on"] >= f"{datagen.person(2).born.year + 22}"


def test_written_files_read_back_through_the_import_file_reader(tmp_path):
    written = datagen.write_files(40, tmp_path)
    assert written == {"market": 10, "police": 10, "hrss": 10, "civil": 10}
    lines = (tmp_path / "civil.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["holder_kind"] == "person"
    records = list(read_records(tmp_path / "market.jsonl"))
    assert len(records) == 10
    assert all(isinstance(r, store_pb.ImportRecord) for r in records)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_generated_licences_import_and_verify_through_the_server(stack):
    by_issuer: dict[str, list[store_pb.ImportRecord]] = {}
    for i, (alias, record) in enumerate(datagen.records(0, 200)):
        record = dict(record)
        fields = record.pop("fields")
        by_issuer.setdefault(alias, []).append(build_record(i + 1, record, fields))
    for alias, records in by_issuer.items():
        results = list(import_records(stack.store(alias), records))
        rejected = [r for r in results if r.outcome != store_pb.IMPORT_OUTCOME_ACCEPTED]
        assert not rejected, (alias, rejected[:3])
        assert len(results) == 50
    person = datagen.holder_of(7, organisation=False)
    listed = stack.store("portal").ListLicencesByHolder(  # the holder's own view: all of them
        store_pb.ListLicencesByHolderRequest(holder_number=person, **WHY)
    )
    assert len(listed.licences) == 3
    _alias, record = datagen.licence(29)
    answer = stack.verifier("hall").VerifyLicence(
        pb.VerifyLicenceRequest(
            **WHY,
            licence=store_pb.LicenceRef(
                type_and_number=store_pb.TypeAndNumber(
                    type_code=record["type_code"], licence_number=record["licence_number"]
                )
            ),
            presented_holder_number=record["holder_number"],
        )
    )
    assert answer.holder_number_match == pb.HOLDER_MATCH_MATCH
    assert answer.verdict not in (pb.VERDICT_NOT_FOUND, pb.VERDICT_CANNOT_CHECK)
