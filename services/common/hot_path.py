"""Which runtime the verification hot path runs on: compiled with mypyc, or pure Python.

``make install`` compiles :data:`HOT_MODULES` with mypyc (``packaging/hot_path.py``) when a C
compiler and the Python headers are present and ``YIHAO_PURE`` is not set; each compiled
module is an extension module beside its ``.py`` file, which Python then imports instead. The
``.py`` files stay the source and the fallback, and behave identically: the whole test suite
runs compiled, and the domain tests run pure too (``.ci/run``).

A server says which one it runs in its log at start and in the ``yihao_hot_path_compiled``
metric (:func:`describe`, :func:`compiled_share`).
"""

from __future__ import annotations

import importlib
import importlib.machinery
from pathlib import Path

#: The modules on the verification path that are compiled: reading a batch's rows and their
#: signed status, the memo of checked versions, deciding verdicts (and where a day falls in a
#: licence's validity dates), holder-number parsing and matching, the MISMATCH budget,
#: receipt texts, access records made and staged, a batch's request read and its answer
#: encoded, the leader/follower hand-offs of a round and its group commit (relay, combining,
#: group_commit) and receipt ids. Not compiled: modules whose attributes tests replace
#: (compiled modules and classes are fixed), gRPC servicers (their base classes are generated
#: Python) and SQLAlchemy-heavy repositories.
HOT_MODULES: tuple[str, ...] = (
    "services.common.access_rows",
    "services.common.canonical",
    "services.common.combining",
    "services.common.group_commit",
    "services.common.identifiers",
    "services.common.ids",
    "services.common.licence_ids",
    "services.common.match_budget",
    "services.common.purpose",
    "services.common.relay",
    "services.licence_store.attestation",
    "services.licence_store.current_rows",
    "services.licence_store.domain.effective",
    "services.licence_store.domain.reading",
    "services.licence_store.domain.statements",
    "services.licence_store.domain.status_chain",
    "services.licence_store.local_reader",
    "services.licence_store.persistence.rows",
    "services.verifier.batch",
    "services.verifier.batch_wire",
    "services.verifier.budget",
    "services.verifier.domain.receipt",
    "services.verifier.domain.verdict",
    "services.verifier.messages",
    "services.verifier.receipts",
    "services.verifier.results",
    "services.verifier.vetting",
)


_ROOT = Path(__file__).resolve().parents[2]
_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _source(name: str, root: Path = _ROOT) -> Path:
    return root / (name.replace(".", "/") + ".py")


def strays(root: Path = _ROOT) -> list[Path]:
    """Compiled modules under ``services/`` of modules that are no longer hot (an older build
    compiled them): Python would import one instead of its current ``.py`` file."""
    hot = {_source(n, root).with_suffix(_SUFFIX) for n in HOT_MODULES}
    return sorted(
        p
        for p in (root / "services").rglob(f"*{_SUFFIX}")
        if p not in hot and not p.name.endswith(f"__mypyc{_SUFFIX}")
    )


def stale() -> bool:
    """Whether compiled modules are present but older than a hot module's source (they were
    compiled together, so one edited source makes them all stale), or any is a stray
    (:func:`strays`): then they would run code that is no longer in the ``.py`` files.
    ``make install`` compiles them again."""
    if strays():
        return True
    built = [_source(n).with_suffix(_SUFFIX) for n in HOT_MODULES]
    present = [b for b in built if b.exists()]
    if not present:
        return False
    newest_source = max(_source(n).stat().st_mtime for n in HOT_MODULES)
    return min(b.stat().st_mtime for b in present) < newest_source


def drop_stale() -> bool:
    """Remove stale compiled modules and strays (pure Python then runs the current sources);
    whether any were removed. Call it before any hot module is imported (the test suite does,
    first)."""
    if not stale():
        return False
    for path in [_source(n).with_suffix(_SUFFIX) for n in HOT_MODULES] + strays():
        path.unlink(missing_ok=True)
    for folder in (_ROOT / "services", _ROOT):  # the group's runtime (and an older build's)
        for shared in folder.glob(f"*__mypyc{_SUFFIX}"):
            shared.unlink(missing_ok=True)
    return True


def compiled(name: str) -> bool:
    """Whether module ``name`` was imported from a compiled extension."""
    module = importlib.import_module(name)
    origin = getattr(module, "__file__", None) or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def compiled_modules() -> list[str]:
    """The hot modules this process runs compiled."""
    return [name for name in HOT_MODULES if compiled(name)]


def compiled_share() -> float:
    """The share of :data:`HOT_MODULES` running compiled (1.0: all of them; 0.0: pure)."""
    return len(compiled_modules()) / len(HOT_MODULES)


def describe() -> str:
    """One line for the log at start: which runtime the hot path runs on."""
    done = compiled_modules()
    if stale() and (done or strays()):
        return (
            "verification hot path: compiled, but OLDER than its sources or left from an older "
            "build (run `make install` "
            "to compile again, or `YIHAO_PURE=1 make install` for pure Python)"
        )
    if len(done) == len(HOT_MODULES):
        return f"verification hot path: compiled (mypyc, {len(done)} modules)"
    if not done:
        return "verification hot path: pure Python (not compiled; see docs/benchmarks.md)"
    missing = sorted(set(HOT_MODULES) - set(done))
    return (
        f"verification hot path: partly compiled ({len(done)} of {len(HOT_MODULES)} modules; "
        f"pure: {', '.join(missing)})"
    )
