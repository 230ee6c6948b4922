"""The desk is a client: it imports ``clients`` and ``yihao_shared``, never the server."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "clients" / "web"
FORBIDDEN = ("services", "testsupport", "tests", "benchmarks")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_desk_imports_no_server_code() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) > 10
    offending = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imports(path) if name.split(".")[0] in FORBIDDEN
        )
        for path in modules
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_command_line_loads_no_web_framework_until_a_web_command_runs() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, clients.cli; clients.cli.build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'starlette', 'uvicorn', 'jinja2', 'argon2', 'sqlalchemy'}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_module_is_under_500_lines() -> None:
    for path in WEB.rglob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 500, path
