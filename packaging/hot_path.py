"""Compile the verification hot path with mypyc, in place (``make install`` runs this).

Run: ``.venv/bin/python packaging/hot_path.py [build|clean|check [compiled|pure]]``

``build`` compiles :data:`services.common.hot_path.HOT_MODULES` into extension modules beside
their ``.py`` files (Python imports those instead), when a C compiler and the Python headers
are present and ``YIHAO_PURE`` is not set; otherwise, or if compiling fails, it removes any
compiled modules and says so: pure Python is the fallback and behaves identically. It skips
the build when the compiled modules are newer than every source they were built from.
``clean`` removes the compiled modules (pure Python from then on). ``check [compiled|pure]``
prints which runtime the hot path runs on (and fails if it is not the one named).
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.common.hot_path import (  # noqa: E402
    HOT_MODULES,
    compiled_share,
    describe,
    stale,
    strays,
)

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
#: mypyc's shared runtime of the group, named after the group: inside the ``services`` package
#: (``services.yihao_hot_path__mypyc``), so it imports wherever ``services`` does — not only
#: with the repository's root on ``sys.path`` (the ``yihao`` command's is not).
GROUP = "services.yihao_hot_path"
SHARED_GLOB = f"*__mypyc{SUFFIX}"
#: where shared runtimes may lie: the package, and the root (where earlier builds put one).
SHARED_DIRS = (ROOT / "services", ROOT)


def sources() -> list[Path]:
    """The ``.py`` file of each hot module."""
    return [ROOT / (name.replace(".", "/") + ".py") for name in HOT_MODULES]


def built() -> list[Path]:
    """Compiled modules present now (each hot module's, strays of modules no longer hot, and
    mypyc's shared runtime)."""
    found = [p.with_suffix(SUFFIX) for p in sources() if p.with_suffix(SUFFIX).exists()]
    return found + strays() + sorted(p for d in SHARED_DIRS for p in d.glob(SHARED_GLOB))


def clean() -> None:
    """Remove every compiled module: the hot path runs pure Python."""
    for path in built():
        path.unlink()


def why_not() -> str | None:
    """Why compiling cannot be tried here (None: it can)."""
    if os.environ.get("YIHAO_PURE"):
        return "YIHAO_PURE is set"
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler})"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        return f"no Python headers ({headers})"
    return None


def up_to_date() -> bool:
    """Whether every hot module is compiled and newer than all the sources (any change to a
    hot module can change what the others were compiled against), and no stray is left."""
    targets = [p.with_suffix(SUFFIX) for p in sources()]
    if not all(t.exists() for t in targets) or strays():
        return False
    newest = max(p.stat().st_mtime for p in [*sources(), Path(__file__)])
    return min(t.stat().st_mtime for t in targets) > newest


def build() -> int:
    """Compile in place (or fall back to pure Python, saying why); the exit status."""
    reason = why_not()
    if reason is not None:
        clean()
        print(f"hot path: pure Python ({reason})")
        return 0
    if up_to_date():
        print("hot path: compiled modules up to date")
        return 0
    clean()  # never a mix of old and new
    with tempfile.TemporaryDirectory(prefix="yihao-mypyc-") as work:
        # A separate process: setuptools and mypyc stay out of this one; the build tree is
        # temporary, the extension modules land beside the sources (--inplace).
        script = (
            "import sys\n"
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            "setup(name='yihao-hot-path', ext_modules=mypycify(sys.argv[1:], opt_level='3',"
            f" group_name={GROUP!r},"
            f" target_dir={work + '/c'!r}), script_args=['build_ext', '--inplace',"
            f" '--build-temp', {work + '/temp'!r}, '--build-lib', {work + '/lib'!r}])\n"
        )
        files = [str(p.relative_to(ROOT)) for p in sources()]
        result = subprocess.run(
            [sys.executable, "-c", script, *files],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "MYPYC_OPT_LEVEL": "3"},
        )
    if result.returncode != 0:
        clean()
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        print(f"hot path: compiling failed, pure Python is used:\n{tail}", file=sys.stderr)
        return 0
    for path in built():  # copied with their build times kept: stamp them as built now
        os.utime(path)
    print(f"hot path: compiled {len(HOT_MODULES)} modules with mypyc")
    return 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "build"
    if command == "build":
        return build()
    if command == "clean":
        clean()
        print("hot path: compiled modules removed (pure Python)")
        return 0
    if command == "check":
        print(describe())
        wanted = sys.argv[2] if len(sys.argv) > 2 else ""
        share = compiled_share()
        if (wanted == "compiled" and (share < 1 or stale())) or (wanted == "pure" and share > 0):
            print(f"hot path: expected {wanted}", file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
