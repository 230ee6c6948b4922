"""The compiled hot path loads wherever the ``services`` package does.

``make run`` and deployments start the server through the ``yihao`` command, whose
``sys.path`` does not hold the repository's root (the test suite's does, as its working
directory). mypyc's shared runtime once lay in the root, so compiled modules imported under
pytest but not under ``yihao``: ``make run`` failed with "No module named
'yihao_hot_path__mypyc'". These tests import from a directory outside the repository.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

from services.common.hot_path import HOT_MODULES, compiled_share, strays

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]

_PROBE = (
    "import importlib, json\n"
    "from services.common.hot_path import HOT_MODULES, compiled_share\n"
    "for name in HOT_MODULES:\n"
    "    importlib.import_module(name)\n"
    "print(json.dumps({'share': compiled_share()}))\n"
)


def test_hot_modules_import_outside_the_repository_root(tmp_path: Path) -> None:
    # -P: no script directory on sys.path; cwd outside the tree: only the installed package
    # (the editable install's finder) can provide ``services``, as for the ``yihao`` command.
    done = subprocess.run(
        [sys.executable, "-P", "-c", _PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # The same runtime as this process (compiled under CI, pure where nothing was built).
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"share": compiled_share()}


def test_the_yihao_command_runs_the_server_part(tmp_path: Path) -> None:
    """``yihao pki init`` (the first step of ``make run``) imports the server part."""
    yihao = Path(sys.executable).with_name("yihao")
    done = subprocess.run(
        [str(yihao), "pki", "init"],
        cwd=tmp_path,
        env={**os.environ, "YIHAO_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "var" / "pki").is_dir()


def test_a_compiled_module_no_longer_hot_is_a_stray(tmp_path: Path) -> None:
    """A module dropped from HOT_MODULES leaves its extension module behind, which Python
    imports instead of the ``.py``: the build, ``clean`` and the suite's start remove it."""
    hot = HOT_MODULES[0].replace(".", "/")
    left = tmp_path / "services/common/was_hot" / f"module{SUFFIX}"
    kept = tmp_path / f"{hot}{SUFFIX}"
    runtime = tmp_path / f"services/yihao_hot_path__mypyc{SUFFIX}"
    for path in (left, kept, runtime):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert strays(tmp_path) == [left]
    left.unlink()
    assert strays(tmp_path) == []


def test_this_tree_has_no_stray_compiled_module() -> None:
    # The suite's conftest removes strays before importing anything (drop_stale).
    assert strays() == []
