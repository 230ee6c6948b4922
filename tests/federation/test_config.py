"""The federation file: validated at start, every problem naming its field and rule; and
which region owns which licence."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.common.pki import init_region_identity
from services.common.signing import SigningKey
from services.federation.config import load_federation, parse_federation

KEY_PEM = SigningKey.generate("yihao-receipt-k1").public().to_pem()


@pytest.fixture
def base(tmp_path: Path) -> dict:
    init_region_identity(tmp_path, "31")
    init_region_identity(tmp_path / "p35", "35")
    return {
        "region": "31",
        "listen": "127.0.0.1:7444",
        "certificate": "region.crt",
        "private_key": "region.key",
        "peers": [
            {
                "region": "35",
                "endpoint": "fujian.example:7443",
                "ca_certificate": "p35/ca.crt",
                "issuers": ["91350100M000100Y43"],
                "receipt_keys": [{"key_id": "yihao-receipt-k1", "public_key_pem": KEY_PEM}],
                "allow": {"rpcs": ["VerifyLicence"], "licence_types": ["*"]},
            }
        ],
    }


def test_a_good_file_loads(base, tmp_path):
    path = tmp_path / "federation.json"
    path.write_text(json.dumps(base))
    config = load_federation(path)
    peer = config.peers["35"]
    assert peer.issuer_regions == ("35",) and peer.allow.rpcs == {"VerifyLicence"}
    assert peer.timeout_seconds == 2.0 and peer.breaker.failures == 3
    # ownership: by explicit issuer, by the region part of the credit code, else local
    assert config.owner_of_issuer("91350100M000100Y43") is peer
    assert config.owner_of_issuer("11350100518190937A") is peer
    assert config.owner_of_issuer("11310000518190937A") is None
    assert config.owner_of_issuer("11440000518190937A") is None


@pytest.mark.parametrize(
    ("where", "value", "field", "reason"),
    [
        ((), {"region": "3"}, "region", "FORMAT"),
        ((), {"listen": "nowhere"}, "listen", "FORMAT"),
        ((), {"certificate": "missing.crt"}, "certificate", "UNREADABLE"),
        ((), {"private_key": "p35/ca.crt", "certificate": "region.key"}, "certificate", None),
        ((), {"peers": []}, "peers", "REQUIRED"),
        (("peers", 0), {"region": "31"}, "peers[0].region", "SELF"),
        (("peers", 0), {"endpoint": "no port"}, "peers[0].endpoint", "FORMAT"),
        (("peers", 0), {"ca_certificate": "region.key"}, "peers[0].ca_certificate", None),
        (("peers", 0), {"issuers": ["12345"]}, "peers[0].issuers[0]", "FORMAT"),
        (("peers", 0), {"issuer_regions": ["3101"]}, "peers[0].issuer_regions", "OVERLAP"),
        (("peers", 0), {"receipt_keys": []}, "peers[0].receipt_keys", "REQUIRED"),
        (
            ("peers", 0),
            {"receipt_keys": [{"key_id": "k", "public_key_pem": "not a key"}]},
            "peers[0].receipt_keys[0].public_key_pem",
            "INVALID_KEY",
        ),
        (("peers", 0), {"allow": {"rpcs": ["IssueLicence"]}}, "peers[0].allow.rpcs[0]", None),
        (
            ("peers", 0),
            {"allow": {"rpcs": [], "licence_types": [], "supervisors": "yes"}},
            "peers[0].allow.supervisors",
            "TYPE",
        ),
        (("peers", 0), {"timeout_seconds": 0}, "peers[0].timeout_seconds", "RANGE"),
        (("peers", 0), {"breaker": {"failures": 0}}, "peers[0].breaker.failures", "RANGE"),
        (("peers", 0), {"holder_lookup": "sometimes"}, "peers[0].holder_lookup", None),
    ],
)
def test_each_problem_names_its_field_and_rule(base, tmp_path, where, value, field, reason):
    data = copy.deepcopy(base)
    target = data
    for step in where:
        target = target[step]
    target.update(value)
    with pytest.raises(InvalidArgument) as caught:
        parse_federation(data, tmp_path)
    (violation,) = caught.value.violations
    assert violation.field == f"YIHAO_FEDERATION_FILE: {field}"
    if reason:
        assert violation.reason == reason


def test_a_duplicate_peer_and_a_file_that_is_not_json(base, tmp_path):
    base["peers"].append(copy.deepcopy(base["peers"][0]))
    with pytest.raises(InvalidArgument, match=r"peers\[1\].region"):
        parse_federation(base, tmp_path)
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(InvalidArgument, match="is not JSON"):
        load_federation(path)


def test_a_lookup_by_holder_goes_to_the_region_of_the_holder_and_to_always_peers(base, tmp_path):
    init_region_identity(tmp_path / "p44", "44")
    base["peers"].append(
        {**copy.deepcopy(base["peers"][0]), "region": "44", "ca_certificate": "p44/ca.crt"}
    )
    base["peers"][1]["issuers"] = []
    config = parse_federation(base, tmp_path)
    fujian, guangdong = config.peers["35"], config.peers["44"]
    assert config.peers_for_holder("350102") == [fujian]  # a holder registered in 35
    assert config.peers_for_holder("440300") == [guangdong]
    assert config.peers_for_holder("310101") == []  # this region's own holders: here only
    assert config.peers_for_holder("110101") == []  # a region nobody federates with
    base["peers"][1]["holder_lookup"] = "always"
    base["peers"][0]["holder_lookup"] = "never"
    config = parse_federation(base, tmp_path)
    assert [p.region for p in config.peers_for_holder("350102")] == ["44"]
    assert [p.region for p in config.peers_for_holder("310101")] == ["44"]
