"""Realistic licences for scale runs, deterministic by index, in the bulk-import file format.

Run: ``.venv/bin/python -m benchmarks.datagen --count N --out DIR`` writes one JSON Lines
file per issuing department (``market.jsonl``, ``police.jsonl``, ...) that
``yihao --as <alias> import <file>`` loads through the real import path; the scale benchmark
(``benchmarks.scale``) streams the same records straight into ``ImportLicences``.

The data follow the demo catalogue (services/licence_store/demo.py). Licences come in blocks
of four, block ``b`` holding:

* slot 0: a business licence (营业执照) of organisation ``b``, numbered with its credit code;
* slot 1: a residence permit (居住证) of person ``b``, issued in the last two years with the
  type's one-year validity (so about half have expired by date alone, as in a real store);
* slot 2: a professional qualification certificate (职业资格证书) of person ``b``;
* slot 3: a marriage certificate (结婚证) of person ``b``, the spouse another generated person.

So a person holds three licences and an organisation one, every holder number passes the
GB 11643 / GB 32100 checks with real 福建 region codes, and ``licence(i)`` can be rebuilt from
``i`` alone: a benchmark picks random licences and holders without asking the server.

Persons are numbered by generation. Generation 1 drew each person's birth date and sequence
code at random, so two persons could share an ID number (0.27 % of persons at one million,
0.68 % at ten million), and a holder query found both persons' licences. Generation 2 (the
default) gives every person up to :data:`PERSON_CAPACITY` a number of their own. Stores
loaded with generation 1 are still measured with it (the scale benchmark records the
generation of a kept store), so their records and queries stay the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2

from services.licence_store import demo

SLOTS = 4  # licences per block: business, residence, qualification, marriage
ISSUERS_BY_SLOT = ("market", "police", "hrss", "civil")  # demo aliases of their issuers

#: GB/T 2260 county-level codes of 福建省, with the district's name.
REGIONS: tuple[tuple[str, str], ...] = (
    ("350102", "福州市鼓楼区"),
    ("350103", "福州市台江区"),
    ("350104", "福州市仓山区"),
    ("350105", "福州市马尾区"),
    ("350111", "福州市晋安区"),
    ("350112", "福州市长乐区"),
    ("350121", "闽侯县"),
    ("350181", "福清市"),
    ("350203", "厦门市思明区"),
    ("350206", "厦门市湖里区"),
    ("350302", "莆田市城厢区"),
    ("350402", "三明市梅列区"),
    ("350502", "泉州市鲤城区"),
    ("350582", "晋江市"),
    ("350602", "漳州市芗城区"),
    ("350702", "南平市延平区"),
    ("350802", "龙岩市新罗区"),
    ("350902", "宁德市蕉城区"),
)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡余叶程苏魏吕丁沈卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉兰萍红建文辉鑫宇浩然轩涵诺欣怡晨阳婷雪"
STREETS = ("五四路", "八一七北路", "华林路", "东街", "工业路", "湖东路", "江滨中大道", "福飞路")
BRANDS = ("恒信", "闽江", "海峡", "榕城", "鼓岭", "新华都", "融侨", "星网", "瑞达", "正荣")
INDUSTRIES = (
    ("科技", "软件开发；信息技术咨询服务；数据处理和存储支持服务"),
    ("贸易", "日用百货销售；五金产品批发；电子产品销售"),
    ("餐饮管理", "餐饮服务；食品销售（仅销售预包装食品）"),
    ("建筑工程", "建设工程施工；住宅室内装饰装修"),
    ("物流", "普通货物仓储服务；道路货物运输（不含危险货物）"),
    ("文化传媒", "组织文化艺术交流活动；广告设计、代理"),
)
COMPANY_TYPES = (
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "股份有限公司（非上市）",
    "个人独资企业",
    "有限合伙企业",
)
OCCUPATIONS = (
    "电工",
    "焊工",
    "育婴员",
    "保育师",
    "中式烹调师",
    "养老护理员",
    "网络与信息安全管理员",
)
LEVELS = ("五级/初级工", "四级/中级工", "三级/高级工", "二级/技师", "一级/高级技师")
ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 alphabet (no I, O, Z, S, V)
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
TODAY = dt.date(2026, 11, 1)  # fixed, so a dataset is the same whenever it is generated

GENERATION = 2  # how persons are numbered (see the module's docstring)
_BIRTH_DAYS = 55 * 365  # birth dates from 1950-01-01 on
_SEQUENCES = 998  # GB 11643 sequence codes 001 to 998
_PER_REGION = _BIRTH_DAYS * _SEQUENCES
#: How many persons generation 2 numbers uniquely.
PERSON_CAPACITY = len(REGIONS) * _PER_REGION
#: Spouses (generation 2) are persons from here on, apart from every holder of a store below
#: 400 million licences (holders are persons 0 .. licences / 4).
SPOUSES_FROM = 100_000_000
# (index * _SPREAD) mod _PER_REGION is a bijection (the multiplier shares no factor with
# _PER_REGION = 2·5²·11·73·499): consecutive persons of a region get scattered birth dates.
_SPREAD = 7_919_993


@dataclass(frozen=True)
class Person:
    """A generated citizen: a valid 18-character ID number, name, sex, birth region."""

    number: str
    name: str
    sex: str
    region: str
    born: dt.date


def _rng(*seed: object) -> random.Random:
    return random.Random("/".join(map(str, seed)))


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def person(p: int, generation: int = GENERATION) -> Person:
    """Person ``p``: a GB 11643 number (region, birth date 1950-2004, sequence, check);
    in generation 2, no two persons below :data:`PERSON_CAPACITY` share it."""
    rng = _rng("person", p)
    region, region_name = REGIONS[p % len(REGIONS)]
    if generation == 1:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(_BIRTH_DAYS))
        sequence = rng.randrange(1, 999)
    else:
        born, sequence = _birth_and_sequence(p // len(REGIONS))
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return Person(
        number=body + mod_11_2.calc_check_digit(body),
        name=_name(rng),
        sex="男" if sequence % 2 else "女",
        region=region_name,
        born=born,
    )


def _birth_and_sequence(q: int) -> tuple[dt.date, int]:
    """The ``q``-th person of a region's birth date and sequence code, distinct for each
    ``q`` below ``_PER_REGION``."""
    if not 0 <= q < _PER_REGION:
        raise ValueError(f"person {q} of a region is beyond the {_PER_REGION:,} numbered")
    day, sequence = divmod(q * _SPREAD % _PER_REGION, _SEQUENCES)
    return dt.date(1950, 1, 1) + dt.timedelta(days=day), sequence + 1


def _gb11714_check(body: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
    return {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


def credit_code(o: int) -> str:
    """Organisation ``o``'s unified social credit code (authority 9 market regulation, type 1
    enterprise, a 福建 region, a GB 11714 organisation code, the MOD 31 check)."""
    region = REGIONS[o % len(REGIONS)][0]
    # Organisation codes are unique by construction: a bijection of ``o`` modulo 31^8
    # (the multiplier is not a multiple of 31), written in base 31, then its GB 11714 check.
    digits, n = [], (o * 566_201_987 + 31**7) % len(ORG_ALPHABET) ** 8
    for _ in range(8):
        n, r = divmod(n, len(ORG_ALPHABET))
        digits.append(ORG_ALPHABET[r])
    org = "".join(reversed(digits))
    body = f"91{region}{org}{_gb11714_check(org)}"
    return body + uscc.calc_check_digit(body)


def _address(rng: random.Random, region: str) -> str:
    return f"{region}{rng.choice(STREETS)}{rng.randrange(1, 300)}号"


def _day(rng: random.Random, start: dt.date, span_days: int) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(span_days))


def _adult_day(rng: random.Random, holder: Person, min_age: int) -> dt.date:
    """A day between the holder's ``min_age``-th birthday and TODAY (or TODAY if too young)."""
    start = holder.born + dt.timedelta(days=min_age * 365)
    return _day(rng, start, (TODAY - start).days) if start < TODAY else TODAY


def licence(i: int, generation: int = GENERATION) -> tuple[str, dict[str, Any]]:
    """Licence ``i``: the alias of its issuer and its record in the import file format."""
    block, slot = divmod(i, SLOTS)
    rng = _rng("licence", i)
    alias = ISSUERS_BY_SLOT[slot]
    if slot == 0:
        return alias, _business(block, rng)
    holder = person(block, generation)
    if slot == 1:
        return alias, _residence(i, holder, rng)
    if slot == 2:
        return alias, _qualification(i, holder, rng)
    spouse = person((10**9 if generation == 1 else SPOUSES_FROM) + i, generation)
    return alias, _marriage(i, holder, spouse, rng)


def _business(o: int, rng: random.Random) -> dict[str, Any]:
    code = credit_code(o)
    region = REGIONS[o % len(REGIONS)][1]
    brand, (industry, scope) = rng.choice(BRANDS), rng.choice(INDUSTRIES)
    return {
        "type_code": demo.BUSINESS_LICENCE.type_code,
        "licence_number": code,
        "holder_kind": "organisation",
        "holder_number": code,
        "holder_name": f"{region}{brand}{industry}有限公司",
        "fields": {
            "legal_representative": _name(rng),
            "company_type": rng.choice(COMPANY_TYPES),
            "registered_capital": str(rng.choice((10, 50, 100, 200, 500, 1000, 5000))),
            "established_on": _day(rng, dt.date(1995, 1, 1), 30 * 365).isoformat(),
            "address": _address(rng, region),
            "business_scope": scope,
        },
    }


def _residence(i: int, holder: Person, rng: random.Random) -> dict[str, Any]:
    issued = _day(rng, TODAY - dt.timedelta(days=730), 730)
    return {
        "type_code": demo.RESIDENCE_PERMIT.type_code,
        "licence_number": f"350100{issued.year}{i:010d}",
        "holder_kind": "person",
        "holder_number": holder.number,
        "holder_name": holder.name,
        "valid_from": issued.isoformat(),
        "fields": {
            "sex": holder.sex,
            "domicile": _address(rng, holder.region),
            "residence_address": _address(rng, "福州市鼓楼区"),
            "issuing_office": "福州市公安局鼓楼分局",
        },
    }


def _qualification(i: int, holder: Person, rng: random.Random) -> dict[str, Any]:
    awarded = _adult_day(rng, holder, 18)
    return {
        "type_code": demo.QUALIFICATION_CERTIFICATE.type_code,
        "licence_number": f"S{awarded.year}350100{i:010d}",
        "holder_kind": "person",
        "holder_number": holder.number,
        "holder_name": holder.name,
        "valid_from": awarded.isoformat(),
        "fields": {
            "occupation": rng.choice(OCCUPATIONS),
            "level": rng.choice(LEVELS),
            "awarded_on": awarded.isoformat(),
            "awarding_body": "福州市职业技能鉴定指导中心",
            "theory_score": str(rng.randrange(60, 100)),
            "skill_score": str(rng.randrange(60, 100)),
        },
    }


def _marriage(i: int, holder: Person, spouse: Person, rng: random.Random) -> dict[str, Any]:
    registered = _adult_day(rng, holder, 22)
    serial = f"J350102-{registered.year}-{i:09d}"
    return {
        "type_code": demo.MARRIAGE_CERTIFICATE.type_code,
        "licence_number": serial,
        "holder_kind": "person",
        "holder_number": holder.number,
        "holder_name": holder.name,
        "valid_from": registered.isoformat(),
        "fields": {
            "spouse_name": spouse.name,
            "spouse_id_number": spouse.number,
            "registered_on": registered.isoformat(),
            "registration_office": "福州市鼓楼区民政局婚姻登记处",
            "certificate_serial": serial,
        },
    }


def holder_of(block: int, organisation: bool, generation: int = GENERATION) -> str:
    """The holder number of block ``block``'s organisation or person."""
    return credit_code(block) if organisation else person(block, generation).number


def records(
    start: int, stop: int, generation: int = GENERATION
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Licences ``start`` .. ``stop - 1`` as (issuer alias, import record)."""
    for i in range(start, stop):
        yield licence(i, generation)


def write_files(count: int, out: Path) -> dict[str, int]:
    """Write licences 0..count-1 as one JSON Lines file per issuer; how many each got."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    written: dict[str, int] = {}
    try:
        for alias, record in records(0, count):
            if alias not in files:
                files[alias] = (out / f"{alias}.jsonl").open("w", encoding="utf-8")
            files[alias].write(json.dumps(record, ensure_ascii=False) + "\n")
            written[alias] = written.get(alias, 0) + 1
    finally:
        for f in files.values():
            f.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="licences to generate")
    parser.add_argument("--out", type=Path, default=Path("var/datagen"))
    args = parser.parse_args()
    for alias, n in sorted(write_files(args.count, args.out).items()):
        print(f"{args.out / (alias + '.jsonl')}: {n} licences (yihao --as {alias} import ...)")


if __name__ == "__main__":
    main()
