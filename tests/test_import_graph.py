"""The shape of the code's imports: no cycles, and the licence store's boundary.

The import graph is built from the source with :mod:`ast` (nothing is imported), counting every
import: at module level, under ``TYPE_CHECKING``, inside functions. A module ``a.b`` importing
``x.y`` depends on ``x.y``; ``from x import y`` depends on ``x.y`` when that is a module, else
on ``x``. Importing a submodule also runs its package's ``__init__``, but those are empty here
and are left out so that a package importing its own submodules is not a "cycle".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("services", "clients")

#: What verifier and assistance may import of the licence store: its reader protocol and its
#: domain types (plain values), nothing of its service, persistence, transport or demo data.
STORE = "services.licence_store"
STORE_ALLOWED = (f"{STORE}.reader", f"{STORE}.domain")
STORE_READERS = ("services.verifier", "services.assistance")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name an import statement anywhere in ``tree`` names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
            else:
                prefix = node.module or ""
            for alias in node.names:
                yield f"{prefix}.{alias.name}"
                yield prefix


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of ``modules`` it imports (packages' own ``__init__`` left out)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for dotted in _imported(tree, name, path.name == "__init__.py"):
            if dotted in modules and dotted != name and modules[dotted].name != "__init__.py":
                targets.add(dotted)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_no_import_cycle_in_services_and_clients() -> None:
    graph = import_graph(source_modules())
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_verifier_and_assistance_read_the_store_only_through_its_reader() -> None:
    graph = import_graph(source_modules())
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if module.startswith(STORE_READERS)
        for target in targets
        if target.startswith(STORE + ".") and not target.startswith(STORE_ALLOWED)
    )
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------- the checks can fail at all


def _graph_of(sources: dict[str, str], tmp_path: Path) -> dict[str, set[str]]:
    modules = {}
    for name, text in sources.items():
        path = tmp_path / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        modules[name] = path
    return import_graph(modules)


@pytest.mark.parametrize(
    "b_source",
    [
        "import pkg.a\n",
        "from pkg import a\n",
        "from . import a\n",
        "from .a import thing\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import Thing\n",
        "def later():\n    from pkg.a import thing\n    return thing\n",
    ],
)
def test_a_cycle_is_found_however_the_import_is_written(tmp_path: Path, b_source: str) -> None:
    graph = _graph_of({"pkg.a": "from pkg.b import x\n", "pkg.b": b_source}, tmp_path)
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


def test_no_cycle_is_found_in_a_chain(tmp_path: Path) -> None:
    graph = _graph_of(
        {"pkg.a": "from pkg.b import x\n", "pkg.b": "from pkg import c\n", "pkg.c": "X = 1\n"},
        tmp_path,
    )
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) is None
