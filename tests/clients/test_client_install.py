"""The client ships alone: the yihao-client wheel installs into a clean virtual environment
and, with no server code anywhere on its path, calls a running server.

The wheel is built from this tree (packaging/yihao-client/build.py); the environment gets it
and its dependencies at the pinned versions (requirements.lock) from the configured index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from testsupport.serverproc import server_process

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "packaging" / "yihao-client"

# Run inside the clean environment, from a directory holding no Yihao code.
CALL = """
import json, sys
from pathlib import Path
from clients import ClientConfig, YihaoClient
config = ClientConfig.for_department("hall", Path(sys.argv[1]), address=sys.argv[2])
with YihaoClient(config) as client:
    reply = client.ping(payload="from a client-only install")
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"services", "sqlalchemy", "cryptography"})
print(json.dumps({"caller": reply.caller_code, "loaded": heavy}))
"""


def _run(args: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def client_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with only the yihao-client wheel and its dependencies."""
    where = tmp_path_factory.mktemp("client-install")
    built = _run([sys.executable, str(CLIENT / "build.py"), str(where / "dist")], ROOT, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = built.stdout.strip().splitlines()[-1]
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", "-c", str(ROOT / "requirements.lock")]
    done = _run([*install, wheel], where, timeout=600)
    assert done.returncode == 0, done.stderr
    return where


def test_the_client_pins_are_the_servers() -> None:
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    client = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(client) <= set(server), sorted(set(client) - set(server))


def test_nothing_of_the_server_is_installed(client_env: Path) -> None:
    python = client_env / "venv" / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('services', 'sqlalchemy', "
    probe += "'cryptography', 'testsupport') if u.find_spec(m)])"
    done = _run([str(python), "-c", probe], client_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_installed_client_calls_a_running_server(client_env: Path) -> None:
    python = client_env / "venv" / "bin" / "python"
    yihao = client_env / "venv" / "bin" / "yihao"
    with server_process(None) as server:
        address = f"127.0.0.1:{server.port}"
        called = _run([str(python), "-c", CALL, str(server.var_dir), address], client_env)
        assert called.returncode == 0, called.stderr
        answer = json.loads(called.stdout)
        cli = [str(yihao), "--address", address, "--var-dir", str(server.var_dir)]
        pinged = _run([*cli, "--as", "market", "--json", "ping"], client_env, timeout=60)
    assert answer == {"caller": "11350100786579754C", "loaded": []}  # hall's credit code
    assert pinged.returncode == 0, pinged.stderr
    assert json.loads(pinged.stdout)["caller_code"] == "1135010052601815X2"  # market's


#: What needs the server package, as documented (docs/design.md, packaging/yihao-client).
SERVER_COMMANDS = {
    "serve": ["serve"],
    "pki init": ["pki", "init"],
    "db upgrade": ["db", "upgrade"],
    "catalogue load-demo": ["catalogue", "load-demo"],
    "audit verify": ["audit", "verify"],
    "keys reseal": ["keys", "reseal"],
    "verify-document --offline": ["verify-document", "--offline", "--keys", "k.json", "d.json"],
    "departments revoke-cert --cert": ["departments", "revoke-cert", "hall", "--cert", "c.pem"],
}


@pytest.mark.parametrize("command", sorted(SERVER_COMMANDS))
def test_server_commands_say_the_server_is_not_installed(client_env: Path, command: str) -> None:
    yihao = client_env / "venv" / "bin" / "yihao"
    args = [str(yihao), "--var-dir", str(client_env / "var"), *SERVER_COMMANDS[command]]
    done = _run(args, client_env, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "FAILED_PRECONDITION SERVER_NOT_INSTALLED" in done.stderr
