"""deploy/compose.federation.yaml agrees with the product and with the files
``yihao federation demo --compose --prepare-only`` writes for it."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.common.config import ENVIRONMENT, load_settings
from services.federation.config import load_federation
from services.federation.demo import run_demo

COMPOSE = Path(__file__).resolve().parents[1] / "deploy" / "compose.federation.yaml"


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def test_every_variable_is_one_the_product_reads_and_settings_accept_it():
    for name, service in _services().items():
        env = {k: str(v) for k, v in service["environment"].items()}
        assert set(env) <= set(ENVIRONMENT), name
        settings = load_settings(env)
        assert settings.federation_file == Path("/var/yihao/federation/federation.json")
        assert settings.var_dir == Path("/var/yihao")


def test_the_prepared_files_federate_the_two_services(tmp_path):
    run_demo(tmp_path, prepare_only=True, compose=True)
    services = _services()
    for code, other in (("35", "31"), ("31", "35")):
        service = services[f"region-{code}"]
        (volume,) = service["volumes"]
        assert volume == f"../var/federation-compose/region-{code}:/var/yihao"
        config = load_federation(tmp_path / f"region-{code}" / "federation" / "federation.json")
        assert config.region == code and config.listen == "0.0.0.0:7443"
        assert config.peers[other].endpoint == f"region-{other}:7443"
        assert f"region-{other}" in services
        assert service["environment"]["YIHAO_LISTEN"] == "0.0.0.0:50051"


def test_the_supervisors_choice_is_written_into_each_peers_policy(tmp_path):
    run_demo(tmp_path / "no", prepare_only=True, compose=True)
    run_demo(tmp_path / "yes", prepare_only=True, compose=True, supervisors=True)
    for choice, expected in (("no", False), ("yes", True)):
        for code, other in (("35", "31"), ("31", "35")):
            path = tmp_path / choice / f"region-{code}" / "federation" / "federation.json"
            assert '"supervisors"' in path.read_text()  # the file shows the choice
            assert load_federation(path).peers[other].allow.supervisors is expected
