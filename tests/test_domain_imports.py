"""The domain imports clean: no SQL, gRPC or cryptography behind any ``services/*/domain`` module
(nor behind ``yihao_shared``, which the client ships: no server code there either).

Each domain module is imported alone in a fresh interpreter (one at a time, so a module that
drags in SQLAlchemy cannot hide behind another that was imported first). A finder at the head
of ``sys.meta_path`` notes, for the first import of each forbidden package, the chain of
modules whose top-level code was running — so a failure names the culprit, e.g.
``services.verifier.domain.receipt -> services.common.audit_log -> sqlalchemy``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Top-level packages the domain must not load (infrastructure, transport, cryptography).
FORBIDDEN = ("sqlalchemy", "alembic", "psycopg", "redis", "cryptography", "grpc")

# Run in the child: import one module, report which forbidden packages it loaded and how.
_PROBE = """
import importlib, json, sys
forbidden = tuple(sys.argv[2].split(","))

def blocked(root):
    return any(root == f or root.startswith(f + "_") for f in forbidden)

chains = {}

class Watch:
    def find_spec(self, name, path=None, target=None):
        root = name.partition(".")[0]
        if blocked(root) and root not in chains:
            frame, chain = sys._getframe(1), [name]
            while frame is not None:
                if frame.f_code.co_name == "<module>":
                    module = frame.f_globals.get("__name__", "?")
                    if module != "__main__" and module != chain[0]:
                        chain.insert(0, module)
                frame = frame.f_back
            chains[root] = " -> ".join(chain)
        return None

sys.meta_path.insert(0, Watch())
importlib.import_module(sys.argv[1])
loaded = sorted({m.partition(".")[0] for m in sys.modules if blocked(m.partition(".")[0])})
print(json.dumps({root: chains.get(root, "?") for root in loaded}))
"""


def modules_under(pattern: str) -> list[str]:
    """Every module whose file matches ``pattern`` (from the root), as a dotted name."""
    found = []
    for path in sorted(ROOT.glob(pattern)):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


MODULES = modules_under("services/*/domain/**/*.py")
#: What the client distribution ships beside the client: plain Python, no server code either.
SHARED = modules_under("yihao_shared/**/*.py")


def _probe(module: str, forbidden: tuple[str, ...] = FORBIDDEN) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module, ",".join(forbidden)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    result: dict[str, str] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def loaded() -> dict[str, dict[str, str]]:
    """Forbidden packages each domain module loaded, probed in parallel fresh interpreters."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(MODULES, pool.map(_probe, MODULES), strict=True))


def test_there_are_domain_modules_to_check() -> None:
    # The services keep their domain in domain/ packages; an empty list would check nothing.
    assert len(MODULES) >= 10, MODULES
    assert "services.verifier.domain.receipt" in MODULES
    assert "yihao_shared.errors" in SHARED


@pytest.mark.parametrize("module", MODULES)
def test_domain_module_loads_no_infrastructure(
    module: str, loaded: dict[str, dict[str, str]]
) -> None:
    chains = loaded[module]
    assert not chains, f"{module} loads " + "; ".join(
        f"{root} via {chain}" for root, chain in chains.items()
    )


@pytest.mark.parametrize("module", SHARED)
def test_shared_module_loads_neither_infrastructure_nor_server(module: str) -> None:
    chains = _probe(module, (*FORBIDDEN, "services", "clients"))
    assert not chains, f"{module} loads " + "; ".join(
        f"{root} via {chain}" for root, chain in chains.items()
    )


def test_the_probe_sees_a_forbidden_import() -> None:
    # The probe itself must be able to fail: a module known to use SQLAlchemy is reported,
    # with the chain that led to it.
    chains = _probe("services.common.audit_log")
    assert "sqlalchemy" in chains
    assert chains["sqlalchemy"].startswith("services.common.audit_log -> ")
